"""``edge-agent bench gpio``: the physical edges: tool call → pin, button → listening, camera frames.

The real daemon runs in this process on simulated hardware (gpiozero's ``MockFactory``)
against the fake Live server, on the same event loop. Measured:

* **tool call → pin changed**: the server sends ``calls`` ``set_output`` calls toggling an LED,
  each after the previous tool response. From the server's send time (``server.sent[i].t``,
  taken when the frame has been written to the socket) to the time the mock pin changed. The
  pin's times come from gpiozero's own record, not a poll: ``MockPin.states`` holds each
  change as ``PinState(seconds since the previous change, state)`` and ``MockPin._last_change``
  the ``time.monotonic()`` of the newest, so change *k* happened at ``_last_change`` minus the
  deltas of every later change. Change *k* of the pin answers call *k* (every call toggles).
* **button edge → listening**: ``listening.mode = "on_wake"`` with a short idle timeout; the
  mock button pin is pressed, held 50 ms and released (a tap wakes at the release, so a hold can
  mean mute). From the release edge to ``phase: listening`` (stamped by a logging handler on
  ``edge_agent.daemon`` when the daemon logs it) and to the first microphone chunk arriving at
  the server (which includes collecting one chunk, ``audio.chunk_ms``).
* **camera**: :class:`~edge_agent.hardware.camera.SimulatedCamera` at 768 px, capture (render the
  test pattern) + JPEG encode per frame, and simplejpeg alone on a 768×576 RGB frame (the colour
  gradient, and noise as the worst case for the encoder).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

from edge_agent.bench import percentiles
from edge_agent.bench.harness import in_process_daemon
from edge_agent.daemon import Daemon
from edge_agent.events import Phase
from edge_agent.hardware.camera import JPEG_QUALITY, SimulatedCamera
from edge_agent.live import fake_script as fs
from edge_agent.live.fake_server import FakeLiveServer

KEY = "bench-key"
LED_PIN = 17
BUTTON_PIN = 27
CHUNK_MS = 40


class PhaseStamps(logging.Handler):
    """Stamps ``time.monotonic()`` on each ``phase: <name>`` record the daemon logs.

    Attach with :meth:`attach` (which lowers the daemon logger's level to INFO if needed) and
    :meth:`detach` in ``finally``. Thread: whichever thread logs (the event loop).
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.stamps: list[tuple[float, str]] = []
        self._logger = logging.getLogger("edge_agent.daemon")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        """Record the time of a phase change."""
        if record.msg == "phase: %s" and isinstance(record.args, tuple) and record.args:
            self.stamps.append((time.monotonic(), str(record.args[0])))

    def attach(self) -> None:
        """Start stamping."""
        if not self._logger.isEnabledFor(logging.INFO):
            self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self)

    def detach(self) -> None:
        """Stop stamping; restore the logger's level. Idempotent."""
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    def first_after(self, t: float, phase: str) -> float | None:
        """The first stamp of ``phase`` after ``t``."""
        return next((at for at, name in self.stamps if at > t and name == phase), None)


def pin_change_times(pin: Any) -> list[tuple[float, bool]]:
    """(``time.monotonic()``, new state) of every change a gpiozero ``MockPin`` recorded, oldest first."""
    states = list(pin.states)
    at = float(pin._last_change)  # gpiozero's clock of the newest change (MockPin._change_state)
    changes = []
    for state in reversed(states[1:]):  # states[0] is the state when the record was (re)started
        changes.append((at, bool(state.state)))
        at -= state.timestamp
    return changes[::-1]


def _script(calls: int) -> fs.Script:
    def call(i: int) -> fs.ToolCall:
        return fs.ToolCall((fs.FunctionCallSpec("set_output", {"name": "lamp", "on": i % 2 == 0}, id=f"gpio-{i}"),))

    steps = [fs.Step(on=fs.OnSetup(), do=(call(0),))]
    steps += [fs.Step(on=fs.OnToolResponse(), do=(call(i),)) for i in range(1, calls)]
    steps.append(fs.Step(on=fs.OnToolResponse(), do=(fs.TurnComplete(),)))  # the model has nothing more to say
    return fs.Script(steps=tuple(steps))


async def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    # Polling: the bench observes the daemon from outside; it offers no event for these.
    while not predicate():  # noqa: ASYNC110
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.005)


async def _taps(daemon: Daemon, server: FakeLiveServer, stamps: PhaseStamps, taps: int) -> dict[str, list[float]]:
    hw = daemon.hardware
    assert hw is not None
    to_phase: list[float] = []
    to_audio: list[float] = []
    for _ in range(taps):
        await _wait(lambda: daemon.phase is Phase.STANDBY, 10, "standby")
        await asyncio.sleep(0.2)
        hw.press_button(True)
        await asyncio.sleep(0.05)
        heard = len(server.messages)
        edge = time.monotonic()
        hw.press_button(False)

        def listening(edge: float = edge) -> float | None:
            return stamps.first_after(edge, "listening")

        def first_audio(heard: int = heard) -> float | None:
            chunks = (m for m in server.messages[heard:] if m.kind == "realtimeInput" and m.sub == "audio")
            return next((m.t for m in chunks), None)

        await _wait(lambda: listening() is not None, 5, "listening")
        await _wait(lambda: first_audio() is not None, 5, "the first microphone chunk")
        to_phase.append((listening() or edge) - edge)
        to_audio.append((first_audio() or edge) - edge)
    return {"phase": [s * 1000 for s in to_phase], "audio": [s * 1000 for s in to_audio]}


async def _daemon_figures(calls: int, taps: int, idle_timeout_s: float) -> dict[str, Any]:
    stamps = PhaseStamps()
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        async with FakeLiveServer(_script(calls), api_key=KEY) as server:
            config = {
                "listening": {"mode": "on_wake", "idle_timeout_s": idle_timeout_s},
                "audio": {"chunk_ms": CHUNK_MS},
                "button": {"pin": BUTTON_PIN},
                "outputs": [{"name": "lamp", "kind": "led", "pin": LED_PIN}],
            }
            daemon = in_process_daemon(server, Path(tmp), config)
            stop = asyncio.Event()
            stamps.attach()
            task = asyncio.create_task(daemon.run(stop), name="bench-daemon")
            try:
                await server.wait_script_done(30 + calls * 0.5)
                assert daemon.hardware is not None
                changes = pin_change_times(daemon.hardware.pin_factory.pin(LED_PIN))
                tapped = await _taps(daemon, server, stamps, taps)
            finally:
                stop.set()
                await task
                stamps.detach()
    sent = [m.t for m in server.sent if "toolCall" in m.payload]
    expected = [i % 2 == 0 for i in range(len(sent))]
    if [state for _, state in changes] != expected:
        raise RuntimeError(f"the LED went through {[s for _, s in changes]}, not the {len(sent)} toggles asked for")
    latency = [(at - t) * 1000 for (at, _), t in zip(changes, sent, strict=True)]
    answered = {r["id"] for r in server.tool_responses()}
    tool = percentiles(latency, 50, 99)
    phase, audio = percentiles(tapped["phase"], 50, 99), percentiles(tapped["audio"], 50, 99)
    return {
        "tool_calls": len(sent),
        "tool_calls_answered": len(answered & {f"gpio-{i}" for i in range(calls)}),
        "tool_call_to_pin_p50_ms": tool["p50"],
        "tool_call_to_pin_p99_ms": tool["p99"],
        "tool_call_to_pin_max_ms": round(max(latency), 1) if latency else float("nan"),
        "button_taps": len(tapped["phase"]),
        "button_to_listening_p50_ms": phase["p50"],
        "button_to_listening_p99_ms": phase["p99"],
        "button_to_first_audio_p50_ms": audio["p50"],
        "button_to_first_audio_p99_ms": audio["p99"],
        "chunk_ms": CHUNK_MS,
    }


def _camera_figures(frames: int, long_edge_px: int) -> dict[str, Any]:
    camera = SimulatedCamera(long_edge_px)
    camera.capture_jpeg()  # warm-up: the first encode sets up libjpeg-turbo
    per_frame, sizes = [], []
    for _ in range(frames):
        start = time.perf_counter()
        sizes.append(len(camera.capture_jpeg()))
        per_frame.append((time.perf_counter() - start) * 1000)
    h, w = camera.height, camera.width
    y, x = np.mgrid[0:h, 0:w]
    gradient = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=-1).astype(np.uint8)
    noise = np.random.default_rng(5).integers(0, 256, (h, w, 3), dtype=np.uint8)
    encode: dict[str, list[float]] = {"gradient": [], "noise": []}
    for _ in range(max(frames // 2, 1)):
        for name, image in (("gradient", gradient), ("noise", noise)):
            start = time.perf_counter()
            simplejpeg.encode_jpeg(image, JPEG_QUALITY, colorspace="RGB")
            encode[name].append((time.perf_counter() - start) * 1000)
    frame = percentiles(per_frame, 50, 99)
    return {
        "camera_frames": frames,
        "camera_size": f"{camera.width}x{camera.height}",
        "camera_capture_encode_p50_ms": frame["p50"],
        "camera_capture_encode_p99_ms": frame["p99"],
        "camera_jpeg_kb": round(float(np.mean(sizes)) / 1024, 1),
        "jpeg_encode_gradient_p50_ms": percentiles(encode["gradient"], 50)["p50"],
        "jpeg_encode_noise_p50_ms": percentiles(encode["noise"], 50)["p50"],
    }


def run(
    calls: int = 200, taps: int = 20, frames: int = 200, idle_timeout_s: float = 0.3, long_edge_px: int = 768
) -> dict[str, Any]:
    """Run the benchmark (about 25 s with the defaults) and return its figures."""
    if calls < 1 or taps < 1 or frames < 1:
        raise ValueError("calls, taps and frames must be >= 1")
    figures = asyncio.run(_daemon_figures(calls, taps, idle_timeout_s))
    return figures | _camera_figures(frames, long_edge_px)
