"""``edge-agent bench audio``: the audio path on simulated devices: latency, barge-in, underruns, CPU.

The simulated microphone and speaker keep real time but are not sound cards, so every figure
is named ``simulated_``. The version on clocked ALSA/PulseAudio devices, with echo
cancellation and baselines per board, is future work (issue: "Real ALSA audio … and an audio
benchmark").

The real daemon runs in this process (``listening.mode = "always"``) against the fake Live
server on the same event loop; the microphone plays noise no chunk of which repeats, and every
reply is noise of its own, so each piece of audio can be found, bit-exact, in the other side's
record. Both devices run on the audio thread's clock: period *k* (``audio.period_ms``) is read
from the microphone when ``t0 + (k + 1) × period`` is due and the speaker's period *k* is
written right after. ``t0`` is calibrated against the devices' frame counters: observing
``mic_frames = F`` at time *t* proves ``t0 <= t - F / 16000``, so the smallest such bound over
frequent polls in the first seconds is ``t0`` (to well under a millisecond). Then:

* **mic → wire** (beyond the chunk length): a chunk's last sample was captured at
  ``t0 + (offset + length) / 16000`` (its offset found in the microphone signal); the figure is
  its arrival at the server minus that. Chunks captured before the first connection was up
  (held and sent on connect) are left out.
* **wire → speaker**: a reply streamed in real time in 40 ms messages; each message's first
  sample is found in the speaker's WAV at offset *o*, written at ``t0 + (o // period + 1) ×
  period``; the figure is that minus the server's send time. Playback starts once
  ``audio.prebuffer_ms`` is queued, which with real-time pacing costs the send time of the
  message that filled it; ``…_beyond_prebuffer`` subtracts that wait.
* **flush**: a reply sent in one burst (as the service does), ``interrupted`` a while later;
  from its send time to the first silent speaker period (all zeros) after the reply started,
  and how much of the queued reply was dropped.
* **underruns**: periods where reply audio ran out mid-turn (``AudioEngine.underruns``).
* **CPU per audio second, RSS**: ``python -m edge_agent run`` in a child process
  (:mod:`edge_agent.bench.daemon`) through a scripted conversation: speech bursts into the
  microphone, a reply in real time after each, for ``conversation_s``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.bench import percentiles
from edge_agent.bench.daemon import ChildDaemon, child_config, footprint, wait_connected
from edge_agent.bench.harness import in_process_daemon
from edge_agent.hardware.simulated import SimulatedAudio, write_wav
from edge_agent.live import fake_script as fs
from edge_agent.live.fake_server import FakeLiveServer

KEY = "bench-key"
MIC_RATE = 16000
SPEAKER_RATE = 24000
CHUNK_MS = 40
PERIOD_MS = 10
REPLY_CHUNK_MS = 40


def _noise(seconds: float, rate: int, seed: int, level: int = 6000) -> np.ndarray:
    return np.random.default_rng(seed).integers(-level, level, int(seconds * rate), dtype=np.int16)


def _script(reply: bytes, bursts: list[bytes], play_s: float) -> fs.Script:
    steps = [
        fs.Step(on=fs.OnSetup()),
        fs.Step(on=fs.After(1.0), do=(fs.Audio(reply, chunk_ms=REPLY_CHUNK_MS, realtime=True), fs.TurnComplete())),
    ]
    for burst in bursts:
        actions = (fs.Audio(burst, chunk_ms=REPLY_CHUNK_MS), fs.Wait(play_s), fs.Interrupted(), fs.TurnComplete())
        steps.append(fs.Step(on=fs.After(1.0), do=actions))
    steps.append(fs.Step(on=fs.After(1.0)))
    return fs.Script(steps=tuple(steps))


async def _clock_origin(audio: SimulatedAudio, seconds: float) -> float:
    """The audio thread's clock origin ``t0``: the least ``t - mic_frames / rate`` over polls."""
    best = float("inf")
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        frames = audio.mic_frames
        if frames:
            best = min(best, now - frames / MIC_RATE)
        await asyncio.sleep(0.001)
    return best


def _find(haystack: bytes, needle: bytes, start: int = 0) -> int:
    """Sample offset of ``needle`` in ``haystack`` at a whole-sample position, or -1."""
    at = haystack.find(needle, start * 2)
    while at >= 0 and at % 2:
        at = haystack.find(needle, at + 1)
    return at // 2 if at >= 0 else -1


@dataclass
class _Record:
    """What one in-process run left behind."""

    server: FakeLiveServer
    mic: np.ndarray
    reply: bytes
    bursts: list[bytes]
    t0: float
    """The audio thread's clock origin (``time.monotonic()``)."""
    played: bytes
    """Everything the speaker played (24 kHz 16-bit)."""
    underruns: int


async def _in_process(directory: Path, reply_s: float, interrupts: int, prebuffer_ms: int) -> _Record:
    reply = _noise(reply_s, SPEAKER_RATE, seed=11).tobytes()
    bursts = [_noise(3.0, SPEAKER_RATE, seed=20 + i).tobytes() for i in range(interrupts)]
    seconds = 3.0 + reply_s + interrupts * 2.5 + 10
    mic = _noise(seconds, MIC_RATE, seed=7, level=3000)
    write_wav(directory / "mic.wav", mic, MIC_RATE)
    speaker = directory / "speaker.wav"
    async with FakeLiveServer(_script(reply, bursts, play_s=1.0), api_key=KEY) as server:
        config = {
            "listening": {"mode": "always"},
            "audio": {"chunk_ms": CHUNK_MS, "period_ms": PERIOD_MS, "prebuffer_ms": prebuffer_ms},
            "simulated": {"mic_wav": str(directory / "mic.wav"), "speaker_wav": str(speaker)},
        }
        daemon = in_process_daemon(server, directory, config)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="bench-daemon")
        try:
            # Polling: the hardware is opened inside run(); nothing announces it.
            while daemon.hardware is None and not task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            audio = daemon.hardware.audio if daemon.hardware is not None else None
            if not isinstance(audio, SimulatedAudio):
                raise RuntimeError("the audio benchmark needs the simulated audio device")
            t0 = await _clock_origin(audio, 1.5)
            await server.wait_script_done(seconds)
        finally:
            stop.set()
            await task
        assert daemon.engine is not None
        underruns = daemon.engine.underruns
    with wave.open(str(speaker), "rb") as w:
        played = w.readframes(w.getnframes())
    return _Record(server, mic, reply, bursts, t0, played, underruns)


def _uplink(r: _Record) -> tuple[list[float], int, int]:
    """Mic → wire delays (ms) of the chunks sent once connected; chunks located; chunks received."""
    connected = min((m.t for m in r.server.sent if "setupComplete" in m.payload), default=r.t0)
    stream, at, delays, located = r.mic.tobytes(), 0, [], 0
    chunks = [m for m in r.server.messages if m.kind == "realtimeInput" and m.sub == "audio"]
    for m in chunks:
        pcm = m.pcm()
        found = _find(stream, pcm, at)
        if found < 0:
            continue
        at, located = found, located + 1
        captured = r.t0 + (found + len(pcm) // 2) / MIC_RATE
        if captured >= connected:  # not audio held until the first connection was up
            delays.append((m.t - captured) * 1000)
    return delays, located, len(chunks)


def _downlink(r: _Record, prebuffer_ms: int) -> tuple[list[float], float, int]:
    """Wire → speaker delays (ms) of the real-time reply's messages; the prebuffer's fill time; messages."""
    period = SPEAKER_RATE * PERIOD_MS // 1000
    sent = [m.t for m in r.server.sent if "modelTurn" in m.payload.get("serverContent", {})]
    chunk = SPEAKER_RATE * REPLY_CHUNK_MS // 1000 * 2
    pieces = [r.reply[i : i + chunk] for i in range(0, len(r.reply), chunk)]
    delays = []
    for piece, sent_t in zip(pieces, sent, strict=False):  # the reply's messages come first, then the bursts
        offset = _find(r.played, piece)
        if offset >= 0:
            delays.append((r.t0 + (offset // period + 1) * PERIOD_MS / 1000 - sent_t) * 1000)
    filled_by = -(-SPEAKER_RATE * prebuffer_ms // 1000 // (chunk // 2))  # the message that fills the prebuffer
    fill_ms = (sent[min(filled_by, len(pieces)) - 1] - sent[0]) * 1000 if sent else float("nan")
    return delays, fill_ms, len(pieces)


def _flushes(r: _Record) -> tuple[list[float], list[float]]:
    """Per burst: ``interrupted`` sent → first silent period written (ms), and reply dropped (ms)."""
    period = SPEAKER_RATE * PERIOD_MS // 1000
    interrupted = [m.t for m in r.server.sent if m.payload.get("serverContent", {}).get("interrupted")]
    periods = np.frombuffer(r.played[: len(r.played) // (2 * period) * 2 * period], dtype="<i2").reshape(-1, period)
    silent: npt.NDArray[np.bool_] = np.logical_not(periods.any(axis=1))
    flush, dropped = [], []
    for burst, sent_t in zip(r.bursts, interrupted, strict=False):
        start = _find(r.played, burst[: SPEAKER_RATE * REPLY_CHUNK_MS // 1000 * 2])
        after = np.flatnonzero(silent[start // period :]) if start >= 0 else np.zeros(0)
        if after.size:
            k = start // period + int(after[0])
            flush.append((r.t0 + (k + 1) * PERIOD_MS / 1000 - sent_t) * 1000)
            dropped.append((len(burst) // 2 - (k * period - start)) * 1000 / SPEAKER_RATE)
    return flush, dropped


def _figures(r: _Record, prebuffer_ms: int) -> dict[str, Any]:
    uplink, located, received = _uplink(r)
    downlink, fill_ms, pieces = _downlink(r, prebuffer_ms)
    flush, dropped = _flushes(r)
    up, down = percentiles(uplink, 50, 99), percentiles(downlink, 50, 99)
    beyond = percentiles([d - fill_ms for d in downlink], 50, 99)
    flushed = percentiles(flush, 50, 99)
    return {
        "simulated_chunk_ms": CHUNK_MS,
        "simulated_period_ms": PERIOD_MS,
        "simulated_mic_to_wire_p50_ms": up["p50"],
        "simulated_mic_to_wire_p99_ms": up["p99"],
        "simulated_mic_chunks_located": f"{located} of {received}",
        "simulated_prebuffer_ms": prebuffer_ms,
        "simulated_prebuffer_fill_ms": round(fill_ms, 1),
        "simulated_wire_to_speaker_p50_ms": down["p50"],
        "simulated_wire_to_speaker_p99_ms": down["p99"],
        "simulated_wire_to_speaker_beyond_prebuffer_p50_ms": beyond["p50"],
        "simulated_wire_to_speaker_beyond_prebuffer_p99_ms": beyond["p99"],
        "simulated_reply_chunks_located": f"{len(downlink)} of {pieces}",
        "simulated_interrupts": len(flush),
        "simulated_flush_p50_ms": flushed["p50"],
        "simulated_flush_max_ms": round(max(flush), 1) if flush else float("nan"),
        "simulated_flush_dropped_reply_p50_ms": percentiles(dropped, 50)["p50"],
        "simulated_underruns": r.underruns,
    }


def _conversation_script(reply_s: float) -> fs.Script:
    reply = _noise(reply_s, SPEAKER_RATE, seed=31, level=4000).tobytes()
    answer = (fs.InputTranscript("Tell me something."), fs.Audio(reply, realtime=True, transcript="Something."))
    return fs.Script(steps=(fs.Step(on=fs.OnSpeechEnd(), do=(*answer, fs.TurnComplete())),), repeat=True)


async def _conversation(directory: Path, seconds: float) -> dict[str, Any]:
    """A child daemon through ``seconds`` of talk: 1 s of speech every 5 s, a 2.5 s reply to each."""
    cycle = np.concatenate([_noise(1.0, MIC_RATE, seed=41, level=6000), np.zeros(4 * MIC_RATE, dtype=np.int16)])
    await asyncio.to_thread(write_wav, directory / "talk.wav", np.tile(cycle, int(seconds / 5) + 4), MIC_RATE)
    async with FakeLiveServer(_conversation_script(2.5), api_key=KEY) as server:
        config = child_config(
            directory,
            server,
            listening={"mode": "always"},
            simulated={"mic_wav": str(directory / "talk.wav"), "mic_start_s": 1.0},
        )
        child = ChildDaemon(directory, server, config)
        try:
            await child.start()
            await child.wait_ready(30)
            await wait_connected(server, 30)
            start = time.monotonic()
            fp = await footprint(child.pid, seconds)
            end = time.monotonic()
            _, code = await child.stop()
        finally:
            await child.close()
    ends = [m.t for m in server.sent if m.payload.get("serverContent", {}).get("turnComplete")]
    turns = sum(1 for t in ends if start <= t <= end)
    return {
        "simulated_conversation_s": seconds,
        "simulated_conversation_turns": turns,
        "simulated_cpu_ms_per_audio_s": fp.cpu_ms_per_s,
        "simulated_rss_mb": fp.rss_mb,
        "simulated_rss_max_mb": fp.rss_max_mb,
        "simulated_exit_code": code,
    }


async def _run(reply_s: float, interrupts: int, prebuffer_ms: int, conversation_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        directory = Path(tmp)
        figures = _figures(await _in_process(directory, reply_s, interrupts, prebuffer_ms), prebuffer_ms)
        figures |= await _conversation(directory / "conversation", conversation_s)
    return figures


def run(
    reply_s: float = 8.0, interrupts: int = 5, prebuffer_ms: int = 100, conversation_s: float = 20.0
) -> dict[str, Any]:
    """Run the benchmark (about 55 s with the defaults) and return its figures."""
    if reply_s < 1 or interrupts < 0 or conversation_s <= 0:
        raise ValueError("reply_s must be >= 1, interrupts >= 0 and conversation_s > 0")
    return asyncio.run(_run(reply_s, interrupts, prebuffer_ms, conversation_s))
