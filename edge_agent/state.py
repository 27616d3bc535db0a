"""What survives a restart: mute, the resumption handle, today's token use.

One small JSON file per item in the state directory, written atomically (temp file +
rename), so a power cut never leaves half a file. A missing or unwritable directory
degrades to memory only, with one warning: it must never stop the daemon. Thread:
event loop; each call does a little blocking file I/O (a few hundred bytes).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("/var/lib/edge-agent")


def state_dir(configured: Path | None, environ: Mapping[str, str]) -> Path:
    """daemon.state_dir, else ``$STATE_DIRECTORY`` (first entry), else /var/lib/edge-agent."""
    if configured is not None:
        return configured
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    return DEFAULT_STATE_DIR


class StateStore:
    """Load and save small JSON documents by name (``muted``, ``resumption``, ``usage``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.persistent = True
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            self.persistent = False
            _LOGGER.warning(
                "state directory %s is not writable (%s): mute and session state last until exit", directory, e
            )

    def load(self, name: str) -> dict[str, Any] | None:
        """The saved document, or None when absent or unreadable (logged)."""
        path = self.directory / f"{name}.json"
        if not self.persistent or not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            _LOGGER.warning("ignoring unreadable state file %s: %s", path, e)
            return None
        return data if isinstance(data, dict) else None

    def save(self, name: str, data: Mapping[str, Any], *, durable: bool = False) -> None:
        """Write the document atomically (mode 0600: it may hold a session handle). Never raises.

        ``durable`` also fsyncs (tens of ms on an SD card): for the mute state, which must survive
        a power cut; the rest can lose its last update.
        """
        if not self.persistent:
            return
        path = self.directory / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            _LOGGER.warning("could not save %s: %s", path, e)

    def delete(self, name: str) -> None:
        """Remove a document if present. Idempotent, never raises."""
        try:
            (self.directory / f"{name}.json").unlink(missing_ok=True)
        except OSError as e:
            _LOGGER.warning("could not delete state %s: %s", name, e)
