"""Echo cancellation end to end: the real daemon (a child process) on clocked virtual ALSA devices with a
simulated room between its speaker and its microphone, against the fake Live server.

PulseAudio null sinks are the sound cards (through the ALSA pulse plugin, so the daemon's pyalsaaudio
code is what runs); the room reads the speaker, convolves it with a room response, makes the echo
louder than the user, adds the user's voice and noise, and plays that into the microphone. What the
server received is compared with what the room put into the microphone (edge_agent.bench.echo_metrics).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from edge_agent.bench.pulse import PulseRig
from edge_agent.bench.room_run import ROOM_RATE, USER, RoomRun, reply, run_in_room, voice
from edge_agent.hardware.room import Room, room_response
from edge_agent.live import fake_script as fs
from tests.conftest import SCALE

SETTLE_S = 1.5
"""Seconds between the connection and the reply (the devices' first-stream stall is over)."""


def script(reply_s: float) -> fs.Script:
    """Connect, wait, say ``reply_s`` of speech in real time, then stay connected."""
    steps = (
        fs.Step(on=fs.OnSetup()),
        fs.Step(on=fs.After(SETTLE_S), do=(fs.Audio(reply(reply_s), realtime=True), fs.TurnComplete())),
        fs.Step(on=fs.After(600)),
    )
    return fs.Script(steps=steps)


def converse(tmp_path: Path, rig: PulseRig, room: Room, reply_s: float, user_after_s: float, **audio: Any) -> RoomRun:
    """The model speaks for ``reply_s``; the user (6 dB quieter than the echo) ``user_after_s`` after it ends."""
    user = voice(USER, ROOM_RATE, -28)
    user_at = SETTLE_S + reply_s + 0.3 + user_after_s  # 0.3 s: the prebuffer and the device buffers
    seconds = user_at + user.size / ROOM_RATE + 1.5

    def schedule(connected: float) -> None:
        room.say(user, at=connected + user_at)

    run = run_in_room(tmp_path, rig, room, script(reply_s), seconds=seconds, audio=audio, on_connected=schedule)
    result = asyncio.run(asyncio.wait_for(run, (seconds + 90) * SCALE))
    assert result.exit_code == 0, result.log
    return result


ATTEMPTS = 3


def converse_cleanly(
    tmp_path: Path, rig: PulseRig, make_room: Any, reply_s: float, user_after_s: float, **audio: Any
) -> RoomRun:
    """:func:`converse` until a run where the rig kept time: the room had no xrun and no capture read
    of the daemon was held up (the virtual sound server stalls now and then on a busy 2-core
    machine, which moves the echo path and measures the stall, not the canceller). Fails when
    every attempt stalled; a clean run's figures are what the test judges."""
    for attempt in range(ATTEMPTS):
        with make_room() as room:
            run = converse(tmp_path / f"attempt{attempt}", rig, room, reply_s, user_after_s, **audio)
        if run.room_xruns == 0 and run.status["audio"]["late_cycles"] == 0:
            return run
    raise AssertionError(f"the virtual sound cards stalled in all {ATTEMPTS} attempts: {run.status['audio']}")


def loud_room(**kwargs: Any) -> Room:
    """A 0.3 s room, the echo about 6 dB louder at the mic than the user's voice."""
    return Room(ir=room_response(ROOM_RATE, delay_ms=5, rt60_s=0.3), echo_gain_db=-2, **kwargs)


def test_webrtc_removes_a_loud_room_echo_and_keeps_the_users_voice(pulse_env: PulseRig, tmp_path: Path) -> None:
    run = converse_cleanly(tmp_path, pulse_env, loud_room, 8.0, 1.0)
    found = run.echo_figures()
    assert found.echo_over_voice_db is not None and found.echo_over_voice_db > 3, found
    assert found.erle_db is not None and found.erle_db >= 30, f"echo removed after 1.5 s: {found}"
    assert found.voice_kept_db is not None and found.voice_kept_db > -8, f"the user's voice: {found}"
    assert found.voice_shape is not None and found.voice_shape > 0.9, f"the user's voice: {found}"
    audio = run.status["audio"]
    assert audio["echo"] == "webrtc" and audio["echo_fallback"] == ""
    assert audio["erle_db"] is not None and audio["erle_db"] >= 25  # the daemon's own measurement agrees


def test_without_cancellation_the_echo_goes_upstream(pulse_env: PulseRig, tmp_path: Path) -> None:
    """The control: the same room with echo_cancellation = "off" — the model would hear itself."""
    with loud_room() as room:
        run = converse(tmp_path, pulse_env, room, 4.0, 0.5, echo_cancellation="off")
    found = run.echo_figures()
    assert found.erle_db is not None and abs(found.erle_db) < 1, found
    assert found.voice_kept_db is not None and abs(found.voice_kept_db) < 1, found


def test_a_broken_echo_path_makes_the_daemon_fall_back_to_half_duplex(pulse_env: PulseRig, tmp_path: Path) -> None:
    """The reference no longer matches what the mic hears: the speaker 1.2 s late, beyond AEC3's reach."""
    with loud_room(extra_delay_ms=1200) as room:
        run = converse(tmp_path, pulse_env, room, 14.0, 2.0)  # the fallback needs ~6 s of echo
    audio = run.status["audio"]
    assert audio["echo"] == "half_duplex" and audio["echo_configured"] == "webrtc", json.dumps(audio)
    assert "audio.min_erle_db" in audio["echo_fallback"] and audio["erle_db"] < 18
    assert "half-duplex" in run.status["status"]
    assert "switching to half-duplex" in run.log
    found = run.echo_figures()
    assert found.voice_kept_db is not None and found.voice_kept_db > -8, f"the user is heard when it is quiet: {found}"
