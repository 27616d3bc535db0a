"""``edge-agent bench audio``: the audio path on clocked virtual sound cards, echo cancellation on and off.

Two baselines are measured in the same run on the same devices.

Set-up (:mod:`edge_agent.bench.room_run`): a private PulseAudio server gives the sound cards
(through the ALSA pulse plugin), a simulated room sits between the daemon's speaker and its
microphone (echo about 6 dB louder than the user), and the fake Live server plays the model. The
daemon runs as a child process (``hardware.backend = "pi"``, ``listening.mode = "always"``).

The scripted conversation: the user says a short question every :data:`CYCLE_S` seconds; the
server answers each when the user stops talking, alternately with a reply sent in one burst and
cut short by ``interrupted`` (a barge-in) and with a reply streamed in real time. Both runs (AEC on,
then off) last ``seconds``.

Figures (the daemon's own, from ``ctl status``; see :mod:`edge_agent.latency`):

* ``mic_to_wire_ms``: ALSA read that completed a chunk → its WebSocket send (already beyond the
  chunk length: the chunk is complete at that read);
* ``wire_to_speaker_ms``: reply message received → ALSA write of its first sample, beyond the
  jitter buffer's own wait (prebuffer and audio queued ahead);
* ``flush_ms``: ``interrupted`` received → first silent period written;
* CPU ms per second and RSS of the whole daemon process over the run, with AEC on and off;
* ``erle_db``: the room's microphone against what reached the server over the echo-only parts
  (:mod:`edge_agent.bench.echo_metrics`), and the daemon's own figure;
* underruns: reply audio that ran out mid-turn, and speaker xruns.

Baselines, each a child process for ``seconds``: **(a)** a bare google-genai client that only
streams silence to the fake server (no audio devices); **(b)** a bare pyalsaaudio loop that only
reads the microphone and writes silence to the speaker at the daemon's period size (no network).
Each is measured twice: alone on a quiet machine, and while the same simulated room plays the same
conversation's voice as in the daemon's runs. The room (the benchmark's own process and the sound
server) keeps both cores busy and their caches cold, which on this VM makes (b) cost about a fifth
more; the ``_in_room`` figures compare the daemon with baselines under the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from edge_agent.bench.daemon import KEY, Footprint, footprint
from edge_agent.bench.pulse import PulseRig
from edge_agent.bench.room_run import ROOM_RATE, USER, RoomRun, reply, rig_environment, run_in_room, voice
from edge_agent.hardware.room import Room, room_response
from edge_agent.live import fake_script as fs
from edge_agent.live.fake_server import FakeLiveServer

CYCLE_S = 7.0
"""The user speaks every this many seconds."""
REPLY_S = 3.0
"""Length of each reply."""
PERIOD_MS = 10
PREBUFFER_MS = 100


def conversation_script() -> fs.Script:
    """Answer each utterance: one in a burst cut short by ``interrupted``, the next in real time, and so on."""
    answer = reply(REPLY_S)
    heard = fs.InputTranscript("What's the weather like?")
    played = (heard, fs.Audio(answer, realtime=True, transcript="Sunny."), fs.TurnComplete())
    cut = (heard, fs.Audio(answer), fs.Wait(1.2), fs.Interrupted(), fs.TurnComplete())
    return fs.Script(steps=(fs.Step(on=fs.OnSpeechEnd(), do=cut), fs.Step(on=fs.OnSpeechEnd(), do=played)), repeat=True)


@contextlib.contextmanager
def _room(seconds: float) -> Iterator[tuple[Room, Callable[[float], None]]]:
    """The benchmark's simulated room and ``schedule(start)``: the user speaks from 1 s after ``start``."""
    user = voice(USER, ROOM_RATE, -28)
    with Room(ir=room_response(ROOM_RATE, delay_ms=5, rt60_s=0.3), echo_gain_db=-2) as room:

        def schedule(start: float) -> None:
            for k in range(int(seconds / CYCLE_S) + 1):
                room.say(user, at=start + 1.0 + k * CYCLE_S)

        yield room, schedule


async def _daemon_run(directory: Path, rig: PulseRig, seconds: float, echo: str) -> RoomRun:
    with _room(seconds) as (room, schedule):
        return await run_in_room(
            directory,
            rig,
            room,
            conversation_script(),
            seconds=seconds,
            audio={"echo_cancellation": echo, "period_ms": PERIOD_MS, "prebuffer_ms": PREBUFFER_MS},
            on_connected=schedule,
            measure_footprint=True,
        )


async def _child_footprint(argv: list[str], env: dict[str, str], seconds: float) -> Footprint:
    """Run ``argv`` as a child; its CPU and RSS from 1 s after start (imports and set-up excluded)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.sleep(1.0)
        fp = await footprint(proc.pid, seconds)
        _, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[2]} exited with {proc.returncode}: {err.decode('utf-8', 'replace')[-2000:]}")
    return fp


async def _baseline_client(directory: Path, seconds: float) -> Footprint:
    """(a): a bare google-genai client streaming silence to the fake server."""
    script = fs.Script(steps=(fs.Step(on=fs.OnSetup()), fs.Step(on=fs.After(seconds + 60))))
    async with FakeLiveServer(script, api_key=KEY) as server:
        server.write_ca(directory / "ca.pem")
        argv = [sys.executable, "-m", "edge_agent.live.baseline_client", "--base-url", server.base_url]
        argv += ["--key", KEY, "--ca-file", str(directory / "ca.pem"), "--seconds", str(seconds + 1.5)]
        return await _child_footprint(argv, dict(os.environ), seconds)


async def _baseline_loop(rig: PulseRig, seconds: float) -> Footprint:
    """(b): a bare pyalsaaudio loop, mic in, silence out, at the daemon's period, on the same devices."""
    argv = [sys.executable, "-m", "edge_agent.hardware.baseline_loop", "--capture", "pamic", "--playback", "paspk"]
    argv += ["--rate", "48000", "--period-ms", str(PERIOD_MS), "--seconds", str(seconds + 1.5)]
    return await _child_footprint(argv, {**os.environ, **rig.env}, seconds)


async def _in_room(seconds: float, baseline: Callable[[], Awaitable[Footprint]]) -> Footprint:
    """A baseline measured while the room plays the conversation's voice, as during the daemon's runs."""
    with _room(seconds) as (_, schedule):
        schedule(time.monotonic())
        return await baseline()


def _latency(status: dict[str, Any], name: str) -> dict[str, float]:
    found: dict[str, float] = status.get("audio", {}).get("latency", {}).get(name, {})
    return found


def _run_figures(run: RoomRun, label: str) -> dict[str, Any]:
    audio = run.status.get("audio", {})
    outside = run.echo_figures()
    assert run.footprint is not None
    figures: dict[str, Any] = {
        f"{label}_cpu_ms_per_s": run.footprint.cpu_ms_per_s,
        f"{label}_rss_mb": run.footprint.rss_mb,
        f"{label}_rss_max_mb": run.footprint.rss_max_mb,
        f"{label}_erle_db": outside.erle_db,
        f"{label}_erle_median_1s_db": outside.erle_median_db,
        f"{label}_voice_kept_db": outside.voice_kept_db,
        f"{label}_underruns": audio.get("underruns"),
        f"{label}_speaker_xruns": audio.get("speaker_xruns"),
        f"{label}_late_cycles": audio.get("late_cycles"),
        f"{label}_room_xruns": run.room_xruns,
        f"{label}_exit_code": run.exit_code,
    }
    return figures


async def _run(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp, PulseRig() as rig, rig_environment(rig):
        directory = Path(tmp)
        on = await _daemon_run(directory / "aec-on", rig, seconds, "webrtc")
        off = await _daemon_run(directory / "aec-off", rig, seconds, "off")
        client = await _baseline_client(directory, seconds)
        loop = await _baseline_loop(rig, seconds)
        client_room = await _in_room(seconds, lambda: _baseline_client(directory, seconds))
        loop_room = await _in_room(seconds, lambda: _baseline_loop(rig, seconds))
    mic, speaker, flush = (_latency(on.status, n) for n in ("mic_to_wire_ms", "wire_to_speaker_ms", "flush_ms"))
    both = round(client.cpu_ms_per_s + loop.cpu_ms_per_s, 1)
    both_room = round(client_room.cpu_ms_per_s + loop_room.cpu_ms_per_s, 1)
    figures: dict[str, Any] = {
        "devices": "PulseAudio null sinks via the ALSA pulse plugin, 48 kHz, 10 ms periods, simulated room",
        "conversation_s": seconds,
        "mic_to_wire_p50_ms": mic.get("p50"),
        "mic_to_wire_p99_ms": mic.get("p99"),
        "wire_to_speaker_beyond_prebuffer_p50_ms": speaker.get("p50"),
        "wire_to_speaker_beyond_prebuffer_p99_ms": speaker.get("p99"),
        "flush_p50_ms": flush.get("p50"),
        "flush_max_ms": flush.get("max"),
        "flushes": flush.get("n", 0),
        "daemon_erle_db": on.status.get("audio", {}).get("erle_db"),
        **_run_figures(on, "aec_on"),
        **_run_figures(off, "aec_off"),
        "baseline_a_client_cpu_ms_per_s": client.cpu_ms_per_s,
        "baseline_a_client_rss_mb": client.rss_mb,
        "baseline_b_alsa_loop_cpu_ms_per_s": loop.cpu_ms_per_s,
        "baseline_b_alsa_loop_rss_mb": loop.rss_mb,
        "baseline_a_plus_b_cpu_ms_per_s": both,
        "aec_on_over_a_plus_b": round(on.footprint.cpu_ms_per_s / both, 2) if on.footprint and both else None,
        "baseline_a_client_in_room_cpu_ms_per_s": client_room.cpu_ms_per_s,
        "baseline_b_alsa_loop_in_room_cpu_ms_per_s": loop_room.cpu_ms_per_s,
        "baseline_a_plus_b_in_room_cpu_ms_per_s": both_room,
        "aec_on_over_a_plus_b_in_room": (
            round(on.footprint.cpu_ms_per_s / both_room, 2) if on.footprint and both_room else None
        ),
    }
    return figures


def run(seconds: float = 60.0) -> dict[str, Any]:
    """Run the benchmark (about 6 × ``seconds`` plus start-ups) and return its figures."""
    if seconds < 10:
        raise ValueError("seconds must be at least 10 (one exchange is 7 s)")
    return asyncio.run(_run(seconds))
