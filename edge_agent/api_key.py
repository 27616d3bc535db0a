"""The Gemini API key: found in a systemd credential, a key file or the environment, and never shown.

``load_api_key`` runs after ``load_settings`` (it reads ``live.api_key_file``); a bad key file raises
:class:`~edge_agent.errors.ConfigError` naming the key that pointed at it. Import both from
``edge_agent.settings``, which re-exports them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from edge_agent.errors import ConfigError

if TYPE_CHECKING:
    from edge_agent.settings import Settings

CREDENTIAL_NAME = "gemini-api-key"
"""systemd credential name (``LoadCredential=gemini-api-key:...`` in the unit)."""


@dataclass(frozen=True)
class ApiKey:
    """The Gemini API key and where it came from. ``repr``/``str`` never show the key; ``reveal()`` does."""

    source: str
    """Where the key was found, e.g. "$GEMINI_API_KEY"; safe to log."""
    secret: SecretStr = field(repr=False)
    """The key itself, wrapped so that it is never printed by accident."""

    def reveal(self) -> str:
        """Return the key text: pass it to the SDK and nowhere else."""
        return self.secret.get_secret_value()

    def __str__(self) -> str:
        return f"API key from {self.source} (redacted)"


def load_api_key(settings: Settings, environ: Mapping[str, str]) -> ApiKey | None:
    """Find the API key; the first found wins. None when nothing is configured anywhere. Blocks on file I/O.

    1. systemd credential ``$CREDENTIALS_DIRECTORY/gemini-api-key`` (when that file exists),
    2. ``live.api_key_file`` (must then be readable, UTF-8 and non-empty),
    3. ``$GEMINI_API_KEY``.
    """
    if directory := environ.get("CREDENTIALS_DIRECTORY"):
        credential = Path(directory) / CREDENTIAL_NAME
        if os.path.lexists(credential):  # False also when the directory cannot be searched
            key = _read_key(credential, settings.source, f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}")
            return ApiKey(f"systemd credential {CREDENTIAL_NAME}", SecretStr(key))
    if (path := settings.live.api_key_file) is not None:
        return ApiKey(f"live.api_key_file ({path})", SecretStr(_read_key(path, settings.source, "live.api_key_file")))
    if key := environ.get("GEMINI_API_KEY", "").strip():
        return ApiKey("$GEMINI_API_KEY", SecretStr(key))
    return None


def _read_key(path: Path, file: str, key: str) -> str:
    expected = "a readable UTF-8 file holding the API key on one line"
    try:
        text = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(file, key, expected, f"no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(file, key, expected, f"a directory: {path}") from None
    except OSError as exc:
        raise ConfigError(file, key, expected, f"unreadable ({exc.strerror}): {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(file, key, expected, f"a file that is not UTF-8 text: {path}") from None
    if not text:
        raise ConfigError(file, key, expected, f"an empty file: {path}")
    if any(char.isspace() for char in text):
        raise ConfigError(file, key, expected, f"a file with whitespace inside the key: {path}")
    return text
