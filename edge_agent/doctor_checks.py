"""The doctor's host checks (API key, camera, GPIO pins, clock), and the checks' shared names.

:class:`CheckResult`, :class:`Status` and :class:`DoctorContext` (defined in :mod:`edge_agent.doctor_types`)
and the audio checks and helpers (defined in :mod:`edge_agent.doctor_audio`) are re-exported here, so
``from edge_agent.doctor_checks import …`` keeps working. The network check is in
:mod:`edge_agent.doctor_network`; the runner, the table and the entry point are in :mod:`edge_agent.doctor`.
"""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path

from edge_agent.api_key import CREDENTIAL_NAME
from edge_agent.doctor_audio import (
    EchoEstimate,
    check_capture,
    check_echo,
    check_playback,
    estimate_echo,
    tone_samples,
)
from edge_agent.doctor_types import CheckResult, DoctorContext, Status
from edge_agent.errors import ConfigError, HardwareError
from edge_agent.settings import Settings, load_api_key

__all__ = [
    "CheckResult",
    "DoctorContext",
    "EchoEstimate",
    "Status",
    "check_api_key",
    "check_camera",
    "check_capture",
    "check_clock",
    "check_echo",
    "check_gpio",
    "check_playback",
    "estimate_echo",
    "tone_samples",
]

# --- 2. API key -------------------------------------------------------------------------------------------

KEY_HINT = (
    "put the key in the systemd credential gemini-api-key, in the file named by live.api_key_file (mode 0600), "
    "or in $GEMINI_API_KEY"
)


def check_api_key(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """A credential is present, and any file holding it is private (WARN with a chmod hint otherwise).

    ``live.auth = "api_key"``: the key as the daemon finds it (``load_api_key``), never shown.
    ``live.auth = "ephemeral"``: ``live.token_url`` is set and ``live.device_secret_file`` is readable,
    non-empty and private. Only reads files.
    """
    name = "API key"
    live = settings.live
    if live.auth == "ephemeral":
        if not live.token_url:
            return CheckResult(
                name,
                Status.FAIL,
                'live.auth = "ephemeral" but live.token_url is not set',
                "set live.token_url to the https:// URL of your `edge-agent token-server`",
            )
        path = live.device_secret_file
        if path is None:
            return CheckResult(
                name,
                Status.FAIL,
                'live.auth = "ephemeral" but live.device_secret_file is not set',
                "set live.device_secret_file to a file (mode 0600) holding this device's secret",
            )
        try:
            secret = path.read_text(encoding="utf-8").strip()
            private, mode = _private(path)
        except (OSError, UnicodeDecodeError) as e:
            return CheckResult(
                name,
                Status.FAIL,
                f"device secret {path} unreadable: {e}",
                "make live.device_secret_file readable by the user edge-agent runs as",
            )
        if not secret:
            return CheckResult(
                name, Status.FAIL, f"device secret {path} is empty", "write this device's secret into the file"
            )
        return _mode_result(name, f"ephemeral tokens from {live.token_url}; device secret", path, private, mode)
    try:
        key = load_api_key(settings, ctx.environ)
    except ConfigError as e:
        return CheckResult(name, Status.FAIL, str(e), f"fix the key file ({e.key}) or remove the setting")
    if key is None:
        return CheckResult(name, Status.FAIL, "no API key found", KEY_HINT)
    file: Path | None = None
    if key.source.startswith("systemd credential"):
        file = Path(ctx.environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
    elif key.source.startswith("live.api_key_file"):
        file = live.api_key_file
    if file is None:
        return CheckResult(name, Status.PASS, f"from {key.source}")
    try:
        private, mode = _private(file)
    except OSError as e:
        return CheckResult(name, Status.FAIL, f"cannot stat {file}: {e}", KEY_HINT)
    return _mode_result(name, f"from {key.source}; file", file, private, mode)


def _private(path: Path) -> tuple[bool, int]:
    """(True when neither group nor others have any access, the permission bits). Raises OSError."""
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode & 0o077 == 0, mode


def _mode_result(name: str, where: str, path: Path, private: bool, mode: int) -> CheckResult:
    if private:
        return CheckResult(name, Status.PASS, f"{where} {path} is mode {mode:04o}")
    return CheckResult(
        name,
        Status.WARN,
        f"{where} {path} is mode {mode:04o}: readable by group/others",
        f"chmod 600 {path}",
    )


# --- 6.-7. Camera and GPIO --------------------------------------------------------------------------------


def check_camera(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """SKIP when ``camera.backend = "off"``; otherwise open the camera, capture one JPEG, report size and time."""
    import simplejpeg

    name = "camera"
    cam_settings = settings.camera
    if cam_settings.backend == "off":
        return CheckResult(name, Status.SKIP, 'camera.backend = "off"')
    started = time.monotonic()
    try:
        camera = ctx.camera_factory(cam_settings.backend, cam_settings.long_edge_px)
    except Exception as e:
        if isinstance(e.__cause__, ImportError):
            hint = (
                "on Raspberry Pi OS: `sudo apt install python3-picamera2` and create the virtualenv "
                'with --system-site-packages; or set camera.backend = "off"'
            )
        else:
            hint = 'check the ribbon cable and `rpicam-hello --list-cameras`; or set camera.backend = "off"'
        return CheckResult(name, Status.FAIL, str(e), hint)
    try:
        opened = time.monotonic()
        jpeg = camera.capture_jpeg()
        captured = time.monotonic()
        height, width, _, _ = simplejpeg.decode_jpeg_header(jpeg)
    except Exception as e:
        return CheckResult(
            name, Status.FAIL, f"{cam_settings.backend}: {e}", "check the camera with `rpicam-still -o test.jpg`"
        )
    finally:
        camera.close()
    return CheckResult(
        name,
        Status.PASS,
        f"{cam_settings.backend}: {width}x{height} JPEG, {len(jpeg) / 1024:.0f} KiB, "
        f"capture + encode {1000 * (captured - opened):.0f} ms (opened in {1000 * (opened - started):.0f} ms)",
    )


GPIO_HINT = (
    "in use by another process (is edge-agent already running?) or the wrong pin; "
    "on a Pi 5 set GPIOZERO_PIN_FACTORY=lgpio"
)


def _claim_error(error: Exception, what: str, pin: int) -> str:
    if isinstance(error, HardwareError):
        return str(error)
    return f"cannot claim GPIO for {what} (BCM {pin}): {type(error).__name__}: {error}"


def check_gpio(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """Every output and the button pin can be claimed, then all are released.

    Outputs are claimed off (their ``initial`` is ignored), so nothing is ever switched on; they are
    read back off before release. FAIL names the pin and gpiozero's error.
    """
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from edge_agent.hardware.gpio import ButtonInput, Outputs

    name = "GPIO pins"
    if not settings.outputs and settings.button.pin is None:
        return CheckResult(name, Status.SKIP, "no [[outputs]] and no button configured")
    factory = ctx.pin_factory
    owned = factory is None and settings.hardware.backend == "simulated"
    if owned:
        factory = MockFactory(pin_class=MockPWMPin)
    claimed: list[Outputs] = []
    button: ButtonInput | None = None
    names: list[str] = []
    try:
        for out in settings.outputs:
            try:
                outputs = Outputs([out.model_copy(update={"initial": False})], pin_factory=factory)
            except Exception as e:  # HardwareError names the output and pin; lgpio's own errors do not
                return CheckResult(name, Status.FAIL, _claim_error(e, f"output {out.name!r}", out.pin), GPIO_HINT)
            claimed.append(outputs)
            if any(outputs.snapshot().values()):
                return CheckResult(name, Status.FAIL, f"output {out.name} (BCM {out.pin}) reads on", GPIO_HINT)
            names.append(f"{out.name} BCM {out.pin}")
        if settings.button.pin is not None:
            try:
                button = ButtonInput(settings.button, lambda _event: None, pin_factory=factory)
            except Exception as e:
                return CheckResult(name, Status.FAIL, _claim_error(e, "the button", settings.button.pin), GPIO_HINT)
            names.append(f"button BCM {settings.button.pin}")
    finally:
        for outputs in claimed:
            outputs.close()
        if button is not None:
            button.close()
        if owned:
            factory.close()
    used = factory if factory is not None else Device.pin_factory
    return CheckResult(
        name, Status.PASS, f"claimed and released {', '.join(names)} ({type(used).__name__}); outputs off"
    )


# --- 9. Clock ---------------------------------------------------------------------------------------------

CLOCK_FLOOR = 1735689600.0
"""2025-01-01T00:00:00Z: a clock before this is certainly wrong (a Pi without RTC and without NTP)."""


def check_clock(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """The clock is plausible and NTP-synchronized (TLS certificates and token expiry depend on it).

    FAIL when it says before 2025; then ``timedatectl show -p NTPSynchronized --value``: PASS "yes",
    WARN "no", SKIP when timedatectl is missing or fails (no systemd).
    """
    name = "clock"
    now = ctx.now()
    shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    if now < CLOCK_FLOOR:
        return CheckResult(
            name,
            Status.FAIL,
            f"the clock says {shown}: certainly wrong, TLS will fail",
            "enable time sync: `sudo timedatectl set-ntp true`, and check the network",
        )
    try:
        done = ctx.run_command(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    except (OSError, subprocess.SubprocessError) as e:
        return CheckResult(name, Status.SKIP, f"{shown}; timedatectl unavailable ({e})")
    answer = done.stdout.strip()
    if done.returncode != 0 or answer not in ("yes", "no"):
        why = (done.stderr.strip().splitlines() or [answer or f"exit {done.returncode}"])[0]
        return CheckResult(name, Status.SKIP, f"{shown}; timedatectl failed: {why}")
    if answer == "yes":
        return CheckResult(name, Status.PASS, f"{shown}, NTP synchronized")
    return CheckResult(
        name,
        Status.WARN,
        f"{shown}, not NTP synchronized: TLS and token expiry need a correct clock",
        "enable time sync: `sudo timedatectl set-ntp true` (and check `timedatectl timesync-status`)",
    )
