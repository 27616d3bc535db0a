"""The real daemon, in a child process, on clocked virtual sound cards with a simulated room.

Shared by ``edge-agent bench audio`` and the end-to-end echo tests. A :class:`~edge_agent.bench.pulse.PulseRig`
gives the sound cards (the daemon's ``pamic``/``paspk`` through the ALSA pulse plugin, so its
own pyalsaaudio code runs), a :class:`~edge_agent.hardware.room.Room` in this process sits between
its speaker and its microphone, and the fake Live server in this process plays the model. The
daemon is a child process so that neither the room nor the server competes with its audio
thread for a GIL, as on a real device.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.bench.daemon import KEY, ChildDaemon, Footprint, child_config, footprint, wait_connected
from edge_agent.bench.echo_metrics import EchoFigures, measure
from edge_agent.bench.pulse import PulseRig
from edge_agent.hardware.room import Room, RoomRecording
from edge_agent.hardware.simulated import read_wav_mono
from edge_agent.live import fake_script as fs
from edge_agent.live.fake_record import SentMessage
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.pcm import Samples

ROOM_RATE = 16000
VOICES = ("demo_reply_1.wav", "demo_reply_2.wav")
"""The model's voice: the demo's recorded replies."""
USER = "demo_question.wav"
"""The user's voice: the demo's recorded question."""


def voice(name: str, rate: int, dbfs: float) -> Samples:
    """A packaged recording as mono int16 at ``rate``, scaled to an RMS of ``dbfs``."""
    path = Path(str(files("edge_agent") / "assets" / name))
    pcm = read_wav_mono(path, rate, source="<bench>", key=name).astype(np.float64)
    pcm *= 32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(pcm**2))
    return np.clip(pcm, -32768, 32767).astype(np.int16)


def reply(seconds: float, dbfs: float = -20.0) -> bytes:
    """The model's voice for ``seconds`` at 24 kHz: the recordings forwards then backwards (no exact repeat)."""
    parts = [voice(name, 24000, dbfs) for name in VOICES]
    one = np.concatenate(parts + [p[::-1] for p in parts])
    return np.resize(one, int(24000 * seconds)).astype("<i2").tobytes()


def device_config(directory: Path, server: FakeLiveServer, **audio: Any) -> dict[str, Any]:
    """A ``pi``-backend config on the rig's PCMs, always listening, no GPIO; ``audio`` overrides keys."""
    config = child_config(
        directory,
        server,
        hardware={"backend": "pi"},
        listening={"mode": "always"},
        audio={
            "capture_device": "pamic",
            "capture_rate": 48000,
            "playback_device": "paspk",
            "playback_rate": 48000,
            **audio,
        },
    )
    config["outputs"], config["button"] = [], {}
    return config


@contextmanager
def rig_environment(rig: PulseRig) -> Iterator[None]:
    """Point this process's ALSA at the rig (for a :class:`Room`) until the block ends, then restore."""
    saved = {key: os.environ.get(key) for key in rig.env}
    os.environ.update(rig.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class RoomRun:
    """What one run left behind."""

    messages: list[fs.ClientMessage]
    """Everything the fake server received."""
    sent: list[SentMessage]
    """Everything it sent."""
    status: dict[str, Any]
    """The daemon's ``ctl status`` at the end."""
    record: RoomRecording
    footprint: Footprint | None
    exit_code: int
    room_xruns: int
    log: str
    """The tail of the daemon's log."""

    def uplink(self) -> Samples:
        """The microphone audio the server received, concatenated (16 kHz)."""
        audio = [m for m in self.messages if m.kind == "realtimeInput" and m.sub == "audio"]
        return np.frombuffer(b"".join(m.pcm() for m in audio), dtype="<i2")

    def echo_figures(self) -> EchoFigures:
        """:func:`~edge_agent.bench.echo_metrics.measure` of the room's record against the uplink."""
        rec = self.record
        return measure(rec.out, rec.echo, rec.near, self.uplink())


async def run_in_room(
    directory: Path,
    rig: PulseRig,
    room: Room,
    script: fs.Script,
    *,
    seconds: float,
    audio: dict[str, Any] | None = None,
    on_connected: Callable[[float], None] | None = None,
    measure_footprint: bool = False,
) -> RoomRun:
    """Run the daemon through ``script`` for ``seconds`` after it connected.

    ``on_connected(t)`` runs once the Live connection is up (``t`` = its ``time.monotonic()``),
    to schedule the user's voice with ``room.say``. The room must be running. Blocking only in
    awaits; raises with the daemon's log when it does not start or connect.
    """
    async with FakeLiveServer(script, api_key=KEY) as server:
        child = ChildDaemon(directory, server, device_config(directory, server, **(audio or {})), env=rig.env)
        try:
            await child.start()
            await child.wait_ready(60)
            connected = await wait_connected(server, 60)
            if on_connected is not None:
                on_connected(connected)
            fp = None
            if measure_footprint:
                fp = await footprint(child.pid, seconds - (time.monotonic() - connected))
            await asyncio.sleep(max(0.0, connected + seconds - time.monotonic()))
            status = await child.ctl("status")
            _, code = await child.stop()
        finally:
            await child.close()
        log = child.log_tail(2000)
    room.check()
    return RoomRun(list(server.messages), list(server.sent), status, room.recording(), fp, code, room.xruns, log)
