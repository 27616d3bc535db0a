"""One exception tree for edge-agent, and the process exit code for each branch.

::

    EdgeAgentError
    ├── ConfigError            (also ValueError)  exit 78: systemd must not restart-loop
    ├── HardwareError          (also OSError)     exit 1:  systemd restarts the service
    │   └── AudioDeviceError
    └── SessionError                              exit 1
"""

from __future__ import annotations

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 64
EX_CONFIG = 78
"""sysexits.h EX_CONFIG; the unit sets ``RestartPreventExitStatus=78``."""


class EdgeAgentError(Exception):
    """Base class for every error edge-agent raises on purpose."""

    exit_code = EX_FAILURE


class ConfigError(EdgeAgentError, ValueError):
    """The configuration is invalid: names the file, the key, what was expected and found.

    Exit code 78 (EX_CONFIG) so systemd does not restart the service in a loop.
    """

    exit_code = EX_CONFIG

    def __init__(self, file: str, key: str, expected: str, found: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        self.found = found
        super().__init__(f"{file}: {key}: expected {expected}; found {found}")


class HardwareError(EdgeAgentError, OSError):
    """A device (audio, GPIO, camera) could not be opened or failed while running."""


class AudioDeviceError(HardwareError):
    """An ALSA device is missing, busy, or granted a format we cannot use."""


class SessionError(EdgeAgentError):
    """The Live session failed in a way the daemon cannot recover from by itself."""


def exit_code_for(error: BaseException) -> int:
    """Return the process exit code for ``error`` (78 for config errors, 1 otherwise)."""
    if isinstance(error, EdgeAgentError):
        return error.exit_code
    return EX_FAILURE
