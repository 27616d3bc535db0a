"""edge-agent doctor: simulated hardware, the fake Live server over TLS, MockFactory pins, virtual ALSA devices."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge_agent.doctor import CHECK_NAMES, CheckResult, DoctorContext, Status, exit_code, main, run_checks
from edge_agent.doctor_checks import estimate_echo, tone_samples
from edge_agent.errors import ConfigError
from edge_agent.hardware.camera import Camera
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.pcm import rms_dbfs
from edge_agent.settings import Settings, render_settings, settings_from_mapping
from tests.conftest import API_KEY, SCALE, base_config, run

ALSA_CONF = "/usr/share/alsa/alsa.conf"
UNREACHABLE = "https://127.0.0.1:9"  # never dialled: these runs are --offline


def timedatectl(answer: str) -> Any:
    def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        assert list(argv) == ["timedatectl", "show", "-p", "NTPSynchronized", "--value"]
        return subprocess.CompletedProcess(list(argv), 0, f"{answer}\n", "")

    return run_command


def context(**overrides: Any) -> DoctorContext:
    base: dict[str, Any] = {
        "environ": {"GEMINI_API_KEY": API_KEY},
        "run_command": timedatectl("yes"),
        "check_timeout_s": 30 * SCALE,
    }
    return DoctorContext(**{**base, **overrides})


def simulated(tmp_path: Path, base_url: str = UNREACHABLE, **sections: Any) -> Settings:
    config = base_config(tmp_path, base_url, button={"pin": 27}, **sections)
    return settings_from_mapping(config, source=str(tmp_path / "edge-agent.toml"))


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    assert [r.name for r in results] == list(CHECK_NAMES)
    return {r.name: r for r in results}


def statuses(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.status.value for r in results}


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    pins = MockFactory(pin_class=MockPWMPin)
    yield pins
    pins.close()


def offline(settings: Settings, ctx: DoctorContext) -> dict[str, CheckResult]:
    return by_name(run_checks(settings, offline=True, context=ctx))


# --- simulated hardware and the fake Live server --------------------------------------------------------


def against_fake_server(
    tmp_path: Path, ctx: DoctorContext, *, trust: bool = True, **sections: Any
) -> tuple[list[CheckResult], str, FakeLiveServer]:
    async def go() -> tuple[list[CheckResult], str, FakeLiveServer]:
        async with FakeLiveServer(api_key=API_KEY) as server:
            settings = simulated(tmp_path, server.base_url, **sections)
            out = io.StringIO()
            ctx_tls = dataclasses.replace(ctx, ssl_context=server.client_ssl_context() if trust else None)
            results = await asyncio.to_thread(run_checks, settings, context=ctx_tls, out=out)
            return results, out.getvalue(), server

    return run(go())


def test_everything_passes_on_simulated_hardware_against_the_fake_server(tmp_path: Path, mic_wav: Path) -> None:
    results, table, server = against_fake_server(
        tmp_path, context(), simulated={"mic_wav": str(mic_wav)}, camera={"backend": "simulated"}
    )
    assert statuses(results) == {name: "PASS" for name in CHECK_NAMES} | {"echo path": "SKIP"}
    assert exit_code(results) == 0
    for name in CHECK_NAMES:
        assert f" {name} " in table
    assert table.splitlines()[-1] == "9 checks: 8 PASS, 0 WARN, 0 FAIL, 1 SKIP"
    found = by_name(results)
    assert "level -" in found["capture device"].detail and "dBFS" in found["capture device"].detail
    assert "kitchen_light BCM 17, fan BCM 22, button BCM 27" in found["GPIO pins"].detail
    assert "credential accepted" in found["network"].detail
    assert API_KEY not in table
    assert [(c.accepted, c.close_code) for c in server.connections] == [(True, 1000)]  # closed at once


def test_a_wrong_key_fails_the_network_check_with_the_key_hint(tmp_path: Path) -> None:
    results, table, server = against_fake_server(tmp_path, context(environ={"GEMINI_API_KEY": "wrong-key"}))
    network = by_name(results)["network"]
    assert network.status is Status.FAIL
    assert "the API key was refused" in network.detail and "1007" in network.detail
    assert network.hint.startswith("check the API key")
    assert by_name(results)["API key"].status is Status.PASS  # present; only the server can say it is wrong
    assert exit_code(results) == 1
    assert "wrong-key" not in table
    assert server.connections[0].close_code == 1007


def test_an_untrusted_certificate_fails_at_the_tls_step(tmp_path: Path) -> None:
    results, _, server = against_fake_server(tmp_path, context(), trust=False)  # the system store, no live.ca_file
    network = by_name(results)["network"]
    assert network.status is Status.FAIL
    assert network.detail.startswith("TLS: 127.0.0.1's certificate is not trusted")
    assert "timedatectl" in network.hint and "live.ca_file" in network.hint
    assert server.connections == []  # never got as far as the Live API


@pytest.mark.parametrize("where", ["api_key_file", "credential"])
def test_a_key_file_others_can_read_is_a_warning_with_a_chmod_hint(tmp_path: Path, where: str) -> None:
    key_file = tmp_path / "gemini-api-key"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o644)
    if where == "api_key_file":
        settings = simulated(tmp_path, live={"api_key_file": str(key_file)})
        environ = {}
    else:
        settings = simulated(tmp_path)
        environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    results = run_checks(settings, offline=True, context=context(environ=environ))
    key = by_name(results)["API key"]
    assert (key.status, key.hint) == (Status.WARN, f"chmod 600 {key_file}")
    assert "0644" in key.detail and API_KEY not in key.detail
    assert exit_code(results) == 0  # a warning is not a failure
    key_file.chmod(0o600)
    assert offline(settings, context(environ=environ))["API key"].status is Status.PASS


def test_no_key_at_all_fails_with_where_to_put_it(tmp_path: Path) -> None:
    key = offline(simulated(tmp_path), context(environ={}))["API key"]
    assert key.status is Status.FAIL
    assert "gemini-api-key" in key.hint and "$GEMINI_API_KEY" in key.hint


def test_ephemeral_auth_checks_the_token_url_and_the_device_secret(tmp_path: Path) -> None:
    secret = tmp_path / "device-secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o604)
    live = {"auth": "ephemeral", "token_url": "https://tokens.example", "device_secret_file": str(secret)}
    key = offline(simulated(tmp_path, live=live), context(environ={}))["API key"]
    assert (key.status, key.hint) == (Status.WARN, f"chmod 600 {secret}")
    no_url = offline(simulated(tmp_path, live={**live, "token_url": ""}), context(environ={}))["API key"]
    assert no_url.status is Status.FAIL and "live.token_url" in no_url.hint


def test_a_pin_claimed_by_another_device_fails_naming_the_pin(tmp_path: Path, factory: MockFactory) -> None:
    squatter = LED(22, pin_factory=factory)
    try:
        outputs = [
            {"name": "kitchen_light", "kind": "led", "pin": 17, "initial": True},
            {"name": "fan", "kind": "relay", "pin": 22, "active_high": False},
        ]
        results = run_checks(simulated(tmp_path, outputs=outputs), offline=True, context=context(pin_factory=factory))
        gpio = by_name(results)["GPIO pins"]
        assert gpio.status is Status.FAIL
        assert "output 'fan' (BCM 22)" in gpio.detail and "in use" in gpio.detail  # gpiozero's GPIOPinInUse
        assert "GPIOZERO_PIN_FACTORY=lgpio" in gpio.hint
        assert exit_code(results) == 1
        # BCM 17 was claimed off (never switched on despite initial = true) and released again.
        assert not any(state.state for state in factory.pin(17).states)
        LED(17, pin_factory=factory).close()
    finally:
        squatter.close()


def test_picamera2_missing_fails_with_the_apt_hint(tmp_path: Path) -> None:
    camera = offline(simulated(tmp_path, camera={"backend": "picamera2"}), context())["camera"]
    assert camera.status is Status.FAIL
    assert "picamera2" in camera.detail
    assert "sudo apt install python3-picamera2" in camera.hint


def test_offline_skips_the_network_check(tmp_path: Path) -> None:
    found = offline(simulated(tmp_path), context())
    assert (found["network"].status, found["network"].detail) == (Status.SKIP, "--offline")
    assert found["camera"].status is Status.SKIP  # camera.backend = "off"


def test_main_prints_the_table_and_returns_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "edge-agent.toml"
    path.write_text(render_settings(simulated(tmp_path), None))
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    assert main(str(path), offline=True) == 0  # the clock row may PASS, WARN or SKIP on this machine
    table = capsys.readouterr().out
    assert table.startswith(f"edge-agent doctor: {path}\n")
    assert all(f" {name} " in table for name in CHECK_NAMES)


def test_an_invalid_config_raises_before_printing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "edge-agent.toml"
    path.write_text('[listening]\nmode = "sometimes"\n')
    with pytest.raises(ConfigError, match="listening.mode"):
        main(str(path), offline=True)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("answer", "now", "status"),
    [("yes", None, Status.PASS), ("no", None, Status.WARN), ("missing", None, Status.SKIP), ("yes", 0.0, Status.FAIL)],
)
def test_the_clock_check(tmp_path: Path, answer: str, now: float | None, status: Status) -> None:
    def missing(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    overrides: dict[str, Any] = {"run_command": missing if answer == "missing" else timedatectl(answer)}
    if now is not None:
        overrides["now"] = lambda: now
    clock = offline(simulated(tmp_path), context(**overrides))["clock"]
    assert clock.status is status
    if status in (Status.WARN, Status.FAIL):
        assert "timedatectl set-ntp true" in clock.hint


def test_a_hanging_check_fails_after_its_budget_and_the_rest_still_run(tmp_path: Path) -> None:
    release = threading.Event()

    def stuck_camera(backend: str, long_edge_px: int) -> Camera:
        release.wait(60)
        raise AssertionError("released")

    try:
        ctx = context(camera_factory=stuck_camera, check_timeout_s=2 * SCALE)
        found = offline(simulated(tmp_path, camera={"backend": "simulated"}), ctx)
    finally:
        release.set()
    assert found["camera"].status is Status.FAIL and "did not finish within" in found["camera"].detail
    assert found["GPIO pins"].status is Status.PASS and found["clock"].status is Status.PASS


# --- the pi backend on virtual ALSA devices --------------------------------------------------------------


@pytest.fixture
def alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file-plugin microphone playing a 1 kHz sine and a file-plugin speaker (one new file per open)."""
    sine = (8000 * np.sin(2 * np.pi * 1000 * np.arange(3 * 48000) / 48000)).astype("<i2")
    (tmp_path / "mic.raw").write_bytes(sine.tobytes())
    (tmp_path / "asound.conf").write_text(
        f'pcm.fakemic {{ type file; slave.pcm "null"; file "/dev/null"; infile "{tmp_path}/mic.raw"; format "raw" }}\n'
        f'pcm.fakespk {{ type file; slave.pcm "null"; file "{tmp_path}/spk.raw"; format "raw"; truncate false }}\n'
    )
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{ALSA_CONF}:{tmp_path}/asound.conf")
    return tmp_path


def pi(tmp_path: Path, **audio: Any) -> Settings:
    devices = {"capture_device": "fakemic", "capture_rate": 48000, "playback_device": "fakespk", "playback_rate": 48000}
    return simulated(tmp_path, hardware={"backend": "pi"}, audio={**devices, **audio})


def test_pi_backend_measures_the_microphone_and_plays_the_tone(alsa: Path, factory: MockFactory) -> None:
    found = offline(pi(alsa), context(pin_factory=factory))
    capture = found["capture device"]
    assert capture.status is Status.PASS
    assert "'fakemic' opened (S16_LE 48000 Hz 1 ch)" in capture.detail
    expected = rms_dbfs(np.frombuffer((alsa / "mic.raw").read_bytes(), dtype="<i2"))
    level = float(capture.detail.rsplit("level ", 1)[1].split(" dBFS")[0])
    assert abs(level - expected) < 1.0
    assert found["playback device"].status is Status.PASS
    played = np.frombuffer((alsa / "spk.raw").read_bytes(), dtype="<i2")  # the first open: the tone
    assert played.size == round(0.3 * 48000)
    assert abs(rms_dbfs(played) + 20.0) < 0.3
    spectrum = np.abs(np.fft.rfft(played))
    assert abs(np.argmax(spectrum) * 48000 / played.size - 440) < 5
    assert np.array_equal(played, tone_samples(48000))
    echo = found["echo path"]  # the second open played the noise; this microphone cannot hear it
    assert echo.status is Status.PASS and "no echo" in echo.detail
    assert (alsa / "spk.raw.0001").stat().st_size > 48000 * 2


def test_a_bogus_capture_device_fails_naming_it(alsa: Path, factory: MockFactory) -> None:
    found = offline(pi(alsa, capture_device="nosuchmic"), context(pin_factory=factory))
    capture = found["capture device"]
    assert capture.status is Status.FAIL
    assert "'nosuchmic'" in capture.detail
    assert "arecord -L" in capture.hint and "audio.capture_device" in capture.hint
    assert found["playback device"].status is Status.PASS
    assert found["echo path"].status is Status.SKIP


# --- the echo estimator ------------------------------------------------------------------------------------


def test_the_echo_estimate_finds_delay_and_coupling() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 3000, 16000)
    captured = rng.normal(0, 100, 16000 + 8000)
    captured[160 : 160 + 16000] += 0.3 * reference  # 10 ms later, -10.5 dB
    echo = estimate_echo(reference, captured, 16000)
    assert echo.detected and echo.delay_ms == 10.0
    assert abs(echo.coupling_db - 20 * np.log10(0.3)) < 0.5
    assert not estimate_echo(reference, 8000 * np.sin(np.arange(24000) / 10), 16000).detected  # loud, unrelated
    ambient = estimate_echo(reference, rng.normal(0, 300, 24000), 16000)  # a quiet room: -41 dBFS
    assert not ambient.detected and ambient.floor_db < -40
    silent = estimate_echo(reference, np.zeros(24000), 16000)
    assert not silent.detected


class Loopback:
    """An AudioDevice whose microphone hears the speaker at half amplitude, ``delay`` samples later (16 kHz)."""

    name = "loopback"
    capture_rate = playback_rate = 16000

    def __init__(self, delay: int) -> None:
        self.heard = np.zeros(delay)
        self.position = 0

    def open(self) -> None:
        pass

    def read(self) -> bytes:
        chunk = self.heard[self.position : self.position + 160]
        self.position += 160
        return np.round(0.5 * np.pad(chunk, (0, 160 - chunk.size))).astype(np.int16).tobytes()

    def to_samples(self, raw: bytes) -> np.ndarray:
        return np.frombuffer(raw, dtype=np.int16)

    def to_frames(self, samples: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(samples, dtype=np.int16)

    def write(self, frames: bytes | memoryview | np.ndarray) -> None:
        self.heard = np.concatenate([self.heard, np.frombuffer(frames, dtype=np.int16)])

    def close(self) -> None:
        pass


def test_an_open_speaker_next_to_the_microphone_is_a_warning(tmp_path: Path, factory: MockFactory) -> None:
    ctx = context(audio_factory=lambda _settings: Loopback(delay=80), pin_factory=factory)
    echo = offline(pi(tmp_path), ctx)["echo path"]
    assert echo.status is Status.WARN
    # 20 ms of silence fed ahead of the first read, plus the 5 ms acoustic delay; -6 dB = half amplitude.
    assert "delay 25.0 ms, coupling -6.0 dB" in echo.detail
    assert "on_wake" in echo.hint


def test_tone_samples_are_at_the_stated_level() -> None:
    assert abs(rms_dbfs(tone_samples(16000)) + 20.0) < 0.1
