"""Shared test fixtures: the real daemon on simulated hardware against the in-package fake server.

Timeouts are generous and scaled by ``EDGE_AGENT_TEST_TIME_SCALE`` (like websockets'
``MS``) so a loaded CI machine does not flake; no test asserts on wall-clock speed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import wave
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge_agent.bench.pulse import PulseRig, pulse_missing
from edge_agent.credentials import api_key_credential
from edge_agent.daemon import Daemon
from edge_agent.hardware.simulated import write_wav
from edge_agent.live.fake_script import Script
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.settings import Settings, settings_from_mapping

SCALE = float(os.environ.get("EDGE_AGENT_TEST_TIME_SCALE", "1"))
API_KEY = "test-key-0123456789"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run a coroutine in a fresh event loop with a (scaled) overall timeout."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout * SCALE)

    return asyncio.run(bounded(), debug=True)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Poll ``predicate`` every 20 ms; fail the test with ``what`` after ``timeout`` (scaled)."""
    deadline = time.monotonic() + timeout * SCALE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * SCALE:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def noise(seconds: float, rate: int, *, seed: int, level: int = 6000) -> np.ndarray:
    """Deterministic loud noise: never silent, easy to find bit-exact."""
    rng = np.random.default_rng(seed)
    return rng.integers(-level, level, int(seconds * rate), dtype=np.int16)


def speech_like_mic(seconds_lead: float = 0.4, seconds_speech: float = 0.8) -> np.ndarray:
    """16 kHz mic input: silence, then a loud burst the fake server's VAD hears as speech."""
    lead = np.zeros(int(seconds_lead * 16000), dtype=np.int16)
    return np.concatenate([lead, noise(seconds_speech, 16000, seed=1)])


def base_config(tmp_path: Path, base_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "live": {"base_url": base_url, "model": "test-model", "voice": "Kore", "system_instruction": "Be brief."},
        "hardware": {"backend": "simulated"},
        # The uplink is checked bit-exact against the mic here; echo handling has its own end-to-end tests.
        "audio": {"echo_cancellation": "off"},
        "listening": {"mode": "always"},
        "daemon": {"state_dir": str(tmp_path / "state")},
        "simulated": {
            "speaker_wav": str(tmp_path / "speaker.wav"),
            "gpio_log": str(tmp_path / "gpio.jsonl"),
        },
        "outputs": [
            {"name": "kitchen_light", "kind": "led", "pin": 17, "description": "Kitchen light"},
            {"name": "fan", "kind": "relay", "pin": 22, "description": "Fan", "active_high": False},
        ],
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(config.get(name), dict):
            config[name] = {**config[name], **values}
        else:
            config[name] = values
    return config


@dataclass
class Running:
    """A running daemon and the fake server it talks to."""

    daemon: Daemon
    server: FakeLiveServer
    settings: Settings
    task: asyncio.Task[None]


@asynccontextmanager
async def running_daemon(script: Script, config: dict[str, Any], *, api_key: str = API_KEY) -> AsyncIterator[Running]:
    """Start the fake server (TLS on loopback) and the real daemon; stop both on exit."""
    async with FakeLiveServer(script, api_key=API_KEY) as server:
        config["live"]["base_url"] = server.base_url
        settings = settings_from_mapping(config, source="<test>")
        control = os.environ.get("EDGE_AGENT_CONTROL_SOCKET") or Path(config["daemon"]["state_dir"]).parent / "ctl.sock"
        daemon = Daemon(
            settings,
            api_key_credential(api_key),
            ssl_context=server.client_ssl_context(),
            environ={},
            control_socket=Path(control),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="daemon")
        try:
            yield Running(daemon, server, settings, task)
        finally:
            stop.set()
            await task


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """gpiozero's mock pins with PWM, closed and reset after the test."""
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.close()
    f.reset()


@pytest.fixture
def mic_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "mic.wav", speech_like_mic(), 16000)


# --- Clocked virtual sound cards: one private PulseAudio server per test session ----------------------
# ``pulse_rig`` costs about 2.5 s once per session. Tests that open ALSA PCMs in this process use
# ``pulse_env``, which points $ALSA_CONFIG_PATH and $PULSE_SERVER at the rig for that test only; child
# processes get ``{**os.environ, **pulse_rig.env}``. Skipped only when PulseAudio is missing and $CI is
# unset (CI installs it, so there it fails instead).


def require_pulse() -> None:
    """Skip (locally) or fail (in CI) when the PulseAudio packages are missing."""
    missing = pulse_missing()
    if missing is not None and not os.environ.get("CI"):
        pytest.skip(missing)


@pytest.fixture(scope="session")
def pulse_rig() -> Iterator[PulseRig]:
    require_pulse()
    with PulseRig() as rig:
        yield rig


@pytest.fixture
def pulse_env(pulse_rig: PulseRig, monkeypatch: pytest.MonkeyPatch) -> PulseRig:
    for name in ("ALSA_CONFIG_PATH", "PULSE_SERVER", "PULSE_CLIENTCONFIG"):
        monkeypatch.setenv(name, pulse_rig.env[name])
    return pulse_rig


# --- Userspace ALSA plugins the tests compile (a mixer control, a virtual PCM) ------------------------


def build_alsa_plugin(work: Path, kind: str, name: str, source: str) -> Path:
    """Compile ``source`` into ``libasound_module_{kind}_{name}.so`` in ``work``; return its path.

    ``kind`` is ``pcm`` or ``ctl``. Skips the test locally without gcc or libasound2-dev, fails it
    on CI (which installs both).
    """
    pytest.importorskip("alsaaudio")
    gcc = shutil.which("gcc")
    header = "pcm_external.h" if kind == "pcm" else "control_external.h"
    if gcc is None or not Path(f"/usr/include/alsa/{header}").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install gcc and libasound2-dev to build the ALSA {kind} plugin {name}")
        pytest.skip(f"needs gcc and libasound2-dev to build the ALSA {kind} plugin {name}")
    (work / f"{name}.c").write_text(source)
    plugin = work / f"libasound_module_{kind}_{name}.so"
    build = [gcc, "-shared", "-fPIC", "-DPIC", "-O1", "-Wall", "-o", str(plugin), str(work / f"{name}.c"), "-lasound"]
    subprocess.run(build, check=True, capture_output=True, timeout=60)
    return plugin
