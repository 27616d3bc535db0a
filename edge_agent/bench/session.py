"""``edge-agent bench session``: connection handovers, drops and tool calls over a compressed hour.

The real daemon (simulated devices, real time) talks to the fake Live server, which sends a
``goAway`` every rotation interval — 10 minutes of a real session, compressed to a few
seconds — some of them while a tool call is in flight, then drops the connection a few times.
Measured from what the server recorded:

* handovers completed before the ``goAway`` deadline;
* captured audio delayed by a handover (arrival time minus capture time of the microphone
  chunks, beyond the steady-state figure) and audio lost or repeated (the received audio
  must be one contiguous run of the microphone's signal);
* tool calls lost (sent by the server, never answered);
* reconnect time after a drop, from the drop to the new connection's ``setupComplete``
  (mostly the jittered backoff's first step, 0.5–1 s, by design).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.bench import percentiles
from edge_agent.bench.harness import in_process_daemon
from edge_agent.events import Phase
from edge_agent.hardware.simulated import write_wav
from edge_agent.live import fake_script as fs
from edge_agent.live.connection import STABLE_CONNECTION_S
from edge_agent.live.fake_server import FakeLiveServer

KEY = "bench-key"
CHUNK_S = 0.04
SIMULATED_ROTATION_S = 600.0
"""What one rotation interval stands for: the service rotates connections about every 10 minutes."""


def _mic(seconds: float) -> np.ndarray:
    return np.random.default_rng(7).integers(-3000, 3000, int(seconds * 16000), dtype=np.int16)


def _script(rotations: int, interval_s: float, time_left_s: float, drops: int) -> fs.Script:
    steps: list[fs.Step] = [fs.Step(on=fs.OnSetup(), do=(fs.ResumptionUpdate("h-0", True),))]
    for i in range(rotations):
        actions: list[fs.Action] = [fs.ResumptionUpdate(f"h-{i + 1}", True)]
        if i % 2:  # every other goAway arrives with a tool call in flight
            actions.append(fs.ToolCall((fs.FunctionCallSpec("get_outputs", {}, id=f"tool-{i}"),)))
        actions.append(fs.GoAway(time_left_s))
        steps.append(fs.Step(on=fs.After(interval_s), do=tuple(actions)))
    # Drops come after a connection that stayed up (as they would, minutes apart), so each is
    # retried on the first backoff step rather than an escalated one.
    stable = max(interval_s, STABLE_CONNECTION_S + 1.0)
    steps += [fs.Step(on=fs.After(stable), do=(fs.Drop(),)) for _ in range(drops)]
    steps.append(fs.Step(on=fs.After(interval_s), do=()))
    return fs.Script(steps=tuple(steps))


def _positions(chunks: list[bytes], stream: bytes) -> list[int]:
    """Sample offset of each chunk in the microphone stream (-1 when not found), searching forward."""
    positions, at = [], 0
    for chunk in chunks:
        found = stream.find(chunk, at)
        if found < 0:
            found = stream.find(chunk)  # a repeat of earlier audio
        positions.append(found // 2 if found >= 0 else -1)
        if found >= 0:
            at = found
    return positions


async def _run(rotations: int, interval_s: float, time_left_s: float, drops: int) -> dict[str, Any]:
    seconds = (rotations + 3) * interval_s + drops * (STABLE_CONNECTION_S + 1.0) + 10
    mic = _mic(seconds + 30)
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "mic.wav", mic, 16000)
        script = _script(rotations, interval_s, time_left_s, drops)
        async with FakeLiveServer(script, api_key=KEY) as server:
            config = {
                "listening": {"mode": "always"},
                # The received audio is matched bit-exact against the microphone: no echo processing.
                "audio": {"chunk_ms": int(CHUNK_S * 1000), "echo_cancellation": "off"},
                "simulated": {"mic_wav": str(wav)},
                "outputs": [{"name": "lamp", "kind": "led", "pin": 17}],
            }
            daemon = in_process_daemon(server, Path(tmp), config)
            stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(stop))
            started = time.monotonic()
            try:
                await server.wait_script_done(seconds + 30)
                # Polling: the bench is an observer, the daemon has no event for "reconnected" to offer.
                while daemon.phase is not Phase.LISTENING and time.monotonic() - started < seconds + 40:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
            finally:
                stop.set()
                await task
            return _figures(server, mic, started, rotations, drops, interval_s)


def _figures(
    server: FakeLiveServer, mic: np.ndarray, started: float, rotations: int, drops: int, interval_s: float
) -> dict[str, Any]:
    conns = server.connections
    goaways = [(m.connection, m.t, m.payload["goAway"]) for m in server.sent if "goAway" in m.payload]
    in_time = 0
    for conn, sent_t, payload in goaways:
        deadline = sent_t + float(str(payload["timeLeft"]).rstrip("s"))
        successor = next((c for c in conns if c.index > conn), None)
        if successor is not None and successor.opened_t < deadline and (conns[conn].closed_t or 1e18) < deadline:
            in_time += 1
    # Audio: one contiguous run, and how late each chunk arrived after it was captured.
    audio = [m for m in server.messages if m.kind == "realtimeInput" and m.sub == "audio"]
    chunks = [m.pcm() for m in audio]
    positions = _positions(chunks, mic.tobytes())
    delays = [
        (m.t - (started + (p + len(c) // 2) / 16000)) * 1000 for m, c, p in zip(audio, chunks, positions, strict=True)
    ]
    rotated = {conn for conn, _, _ in goaways}
    lost = {"handover": 0, "drop": 0}
    repeated = 0
    for i in range(1, len(chunks)):
        expected = positions[i - 1] + len(chunks[i - 1]) // 2
        if positions[i] < 0 or positions[i] < expected:
            repeated += 1
        elif positions[i] > expected:
            kind = "handover" if audio[i - 1].connection in rotated else "drop"
            lost[kind] += positions[i] - expected
    steady = float(np.median(delays)) if delays else float("nan")
    handover_delay: list[float] = []
    drop_delay: list[float] = []
    for c in conns[1:]:
        first = [d for m, d in zip(audio, delays, strict=True) if m.connection == c.index][:25]  # its first second
        if first:
            (handover_delay if c.index - 1 in rotated else drop_delay).append(max(first) - steady)
    drops_at = [c.closed_t for c in conns if c.dropped and c.closed_t is not None]
    reconnect = []
    for t in drops_at:
        after = [c.opened_t for c in conns if c.opened_t > t]
        if after:
            reconnect.append((min(after) - t) * 1000)
    calls = {d["id"] for m in server.sent for d in m.payload.get("toolCall", {}).get("functionCalls", [])}
    answered = {r["id"] for r in server.tool_responses()}
    handovers = percentiles(handover_delay, 50, 99)
    reconnects = percentiles(reconnect, 50, 99)
    return {
        "simulated_hours": round(rotations * SIMULATED_ROTATION_S / 3600, 2),
        "rotation_interval_s": interval_s,
        "goaways": len(goaways),
        "handovers_before_deadline": in_time,
        "audio_delay_steady_ms": round(steady, 1),
        "handover_audio_delay_p50_ms": handovers["p50"],
        "handover_audio_delay_p99_ms": handovers["p99"],
        "handover_audio_delay_max_ms": round(max(handover_delay), 1) if handover_delay else float("nan"),
        "audio_lost_in_handovers_ms": lost["handover"] * 1000 // 16000,
        "audio_chunks_repeated": repeated,
        "audio_seconds_received": round(sum(len(c) for c in chunks) / 32000, 1),
        "tool_calls": len(calls),
        "tool_calls_lost": len(calls - answered),
        "drops": len(drops_at),
        "reconnect_after_drop_p50_ms": reconnects["p50"],
        "reconnect_after_drop_p99_ms": reconnects["p99"],
        "audio_delay_after_drop_max_ms": round(max(drop_delay), 1) if drop_delay else float("nan"),
        "audio_lost_in_drops_ms": lost["drop"] * 1000 // 16000,
        "connections": len(conns),
    }


def run(rotations: int = 6, interval_s: float = 4.0, time_left_s: float = 2.0, drops: int = 3) -> dict[str, Any]:
    """Run the benchmark (about a minute with the defaults) and return its figures."""
    return asyncio.run(_run(rotations, interval_s, time_left_s, drops))
