"""The doctor's vocabulary: :class:`Status`, :class:`CheckResult` and :class:`DoctorContext`.

Every check takes the validated :class:`~edge_agent.settings.Settings` and a :class:`DoctorContext` and
returns one :class:`CheckResult`; it reports problems as FAIL/WARN results instead of raising (an
unexpected exception is turned into a FAIL by the runner in :mod:`edge_agent.doctor`). Checks block
(devices, files, subprocesses): the runner calls each in its own daemon thread with a time budget, so a
hung device can never hang the doctor. No check prints, and no secret ever appears in a detail or hint.

Everything a check touches from outside (the environment, the pin factory, the TLS context, the audio and
camera constructors, the ``timedatectl`` runner, the clock) comes from the context, so tests point the
checks at fakes without patching. This module imports no check, so every check module can import it.
"""

from __future__ import annotations

import enum
import os
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_agent.audio_device import AudioDevice
from edge_agent.hardware.camera import Camera, open_camera
from edge_agent.settings import AudioSettings

__all__ = ["CheckResult", "DoctorContext", "Status"]


class Status(enum.StrEnum):
    """The verdict of one check."""

    PASS = "PASS"
    WARN = "WARN"
    """Works, but something is likely wrong or unsafe; does not change the exit code."""
    FAIL = "FAIL"
    """Broken: the daemon will not work like this; ``edge-agent doctor`` exits 1."""
    SKIP = "SKIP"
    """Not applicable to this configuration (or ``--offline``)."""


@dataclass(frozen=True)
class CheckResult:
    """One row of the doctor's table. ``detail`` is one line; ``hint`` says exactly what to do ("" = nothing)."""

    name: str
    status: Status
    detail: str
    hint: str = ""


def _run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=5, check=False)


@dataclass(frozen=True)
class DoctorContext:
    """What the checks use from the outside world; the defaults are the real thing.

    Tests replace any field (``dataclasses.replace``) to point the checks at fakes.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    """Where $GEMINI_API_KEY and $CREDENTIALS_DIRECTORY are looked up. (ALSA reads the process environment.)"""
    pin_factory: Any = None
    """gpiozero pin factory for the GPIO check. None = a fresh ``MockFactory(pin_class=MockPWMPin)`` for the
    simulated backend (closed afterwards), gpiozero's default on a Pi. A given factory is never closed."""
    ssl_context: ssl.SSLContext | None = None
    """TLS context for the network check. None = the system store plus ``live.ca_file`` when set."""
    now: Callable[[], float] = time.time
    """Wall clock (Unix seconds) for the clock check."""
    audio_factory: Callable[[AudioSettings], AudioDevice] | None = None
    """Builds the pi backend's audio device (unopened). None = ``AlsaAudio``. The capture check passes
    settings whose playback device is ``"null"``, the playback check a ``"null"`` capture device."""
    camera_factory: Callable[[str, int], Camera] = open_camera
    """Opens the camera: ``(camera.backend, camera.long_edge_px) -> Camera``; raises HardwareError."""
    run_command: Callable[[Sequence[str]], subprocess.CompletedProcess[str]] = _run_command
    """Runs ``timedatectl``; may raise OSError (not installed) or subprocess.TimeoutExpired."""
    check_timeout_s: float = 15.0
    """Budget for each local check; one that takes longer FAILs (its thread is abandoned)."""
    network_timeout_s: float = 10.0
    """Budget for each network step (DNS, TLS, Live setup)."""
