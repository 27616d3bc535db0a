"""Logging for a daemon: every line carries the conversation phase.

Under systemd (``$JOURNAL_STREAM`` set) lines go to stderr without timestamps and
with a ``<N>`` syslog priority prefix, which journald turns into the entry's
priority; on a terminal they carry a timestamp instead.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

_state = {"phase": "starting"}

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def set_phase(phase: str) -> None:
    """Set the phase shown in every following log line. Thread: any."""
    _state["phase"] = phase


class _Context(logging.Filter):
    """Adds ``phase`` and ``priority`` attributes to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.phase = _state["phase"]
        record.priority = _PRIORITY.get(record.levelno, 6)
        return True


def setup_logging(*, verbose: bool = False, stream: TextIO | None = None) -> None:
    """Configure the ``edge_agent`` logger once for a command. Idempotent."""
    stream = stream or sys.stderr
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "<%(priority)d>%(levelname)s [%(phase)s] %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)-7s [%(phase)s] %(name)s: %(message)s"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    handler.addFilter(_Context())
    root = logging.getLogger("edge_agent")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    # Library chatter stays out of the journal unless something is wrong.
    for name in ("websockets", "google_genai", "httpx", "gpiozero"):
        logging.getLogger(name).setLevel(logging.WARNING)
