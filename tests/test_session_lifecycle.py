"""Push-to-talk, idle close, restart-resume and the token budget, end to end against the fake server."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_agent import events as ev
from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from tests.conftest import base_config, noise, run, running_daemon, wait_until, write_wav


def realtime(messages: list[fs.ClientMessage]) -> list[str]:
    return [m.sub or "" for m in messages if m.kind == "realtimeInput"]


def test_push_to_talk_sends_activity_start_and_end_around_the_audio(tmp_path: Path) -> None:
    config = base_config(
        tmp_path,
        "",
        listening={"mode": "on_wake", "turn_detection": "push_to_talk"},
        button={"pin": 27, "mute_hold_s": 0.3},  # holding longer than this is talking, not muting
        simulated={"mic_wav": str(write_wav(tmp_path / "m.wav", noise(10, 16000, seed=8), 16000))},
    )
    reply = noise(0.3, 24000, seed=80)
    script = fs.Script(steps=(fs.Step(on=fs.OnSpeechEnd(), do=(fs.Audio(reply.tobytes()), fs.TurnComplete())),))

    async def scenario() -> tuple[list[fs.ClientMessage], dict[str, object]]:
        async with running_daemon(script, config) as r:
            await wait_until(
                lambda: r.daemon.connection is not None and r.daemon.connection.link is not None, 10, "connected"
            )
            hw = r.daemon.hardware
            assert hw is not None
            hw.press_button(True)
            await wait_until(lambda: len(realtime(r.server.messages)) > 20, 10, "audio while held")
            assert not r.daemon.conversation.muted  # held past mute_hold_s: still talking
            hw.press_button(False)
            await wait_until(lambda: r.daemon.turns_played >= 1, 10, "the reply")
            await wait_until(lambda: r.daemon.phase is Phase.STANDBY, 10, "standby")
            return list(r.server.messages), r.server.connections[0].setup or {}

    messages, setup = run(scenario())
    detection = fs.field(fs.field(setup, "realtimeInputConfig"), "automaticActivityDetection")
    assert fs.field(detection, "disabled") is True
    subs = realtime(messages)
    assert subs[0] == "activityStart" and subs.count("activityStart") == 1
    assert subs.index("activityEnd") == len(subs) - 1  # nothing after the release
    assert set(subs[1:-1]) == {"audio"} and len(subs) > 20


def test_idle_on_wake_stops_streaming_then_closes_the_connection(tmp_path: Path) -> None:
    config = base_config(
        tmp_path,
        "",
        listening={"mode": "on_wake", "idle_timeout_s": 1.5, "disconnect_after_s": 1.0},
        button={"pin": 27},
        simulated={"button_presses_s": [0.5]},
    )

    async def scenario() -> fs.FakeLiveServer:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 10, "the wake")
            await wait_until(lambda: r.daemon.phase is Phase.STANDBY, 10, "the idle timeout")
            count = len(realtime(r.server.messages))
            await wait_until(lambda: r.server.connections[0].close_code is not None, 10, "the idle close")
            assert r.daemon.phase is Phase.STANDBY
            assert len(realtime(r.server.messages)) == count  # streaming had stopped
            r.daemon.wake()  # a wake reopens it
            await wait_until(lambda: len(r.server.connections) == 2, 10, "a new connection")
            return r.server

    server = run(scenario())
    assert server.connections[0].closed_by == "client" and server.connections[0].close_code == 1000
    assert len(realtime([m for m in server.messages if m.connection == 0])) > 0


def test_a_restart_within_the_handle_validity_resumes_the_session(tmp_path: Path) -> None:
    config = base_config(tmp_path, "")
    script = fs.Script(steps=(fs.Step(on=fs.OnSetup(), do=(fs.ResumptionUpdate("handle-A", True),)),))

    async def first_run() -> None:
        async with running_daemon(script, config) as r:
            await wait_until(r.server.script_done.is_set, 10, "the handle")
            await wait_until(lambda: (tmp_path / "state" / "resumption.json").exists(), 5, "the saved handle")

    async def second_run() -> dict[str, object]:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: r.server.connections and r.server.connections[0].setup is not None, 10, "setup")
            return r.server.connections[0].setup or {}

    run(first_run())
    setup = run(second_run())
    assert fs.field(fs.field(setup, "sessionResumption"), "handle") == "handle-A"


def test_the_budget_stops_the_camera_then_refuses_turns(tmp_path: Path) -> None:
    silence = np.zeros(16000 * 2, dtype=np.int16)
    mic = np.concatenate([silence[:5000], noise(0.5, 16000, seed=1), silence, noise(0.5, 16000, seed=2)])
    config = base_config(
        tmp_path,
        "",
        live={"daily_token_budget": 1000},
        camera={"backend": "simulated"},
        simulated={"mic_wav": str(write_wav(tmp_path / "m.wav", mic, 16000))},
    )
    turn = (fs.Audio(noise(0.2, 24000, seed=3).tobytes()), fs.GenerationComplete(), fs.TurnComplete())
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.Usage(prompt_tokens=600, response_tokens=350), *turn)),  # 950: ≥ 90 %
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.Usage(prompt_tokens=150, response_tokens=50), *turn)),  # 1150: over
        )
    )

    async def scenario() -> tuple[list[fs.ClientMessage], int, int]:
        async with running_daemon(script, config) as r:
            await wait_until(lambda: r.daemon.meter.used_today >= 950, 15, "the first turn's usage")
            camera_off_at = len(r.server.messages)
            await wait_until(lambda: r.daemon.meter.used_today >= 1150, 15, "the second turn's usage")
            await wait_until(lambda: r.daemon.phase is Phase.STANDBY, 5, "turns refused")
            refused_at = len(r.server.messages)
            r.daemon.wake()
            frames = r.daemon.hardware.audio.mic_frames  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.hardware.audio.mic_frames > frames + 16000, 5, "1 s")  # type: ignore[union-attr]
            assert r.daemon.phase is Phase.STANDBY  # the wake was refused
            assert r.daemon.store.load("usage") == {"day": r.daemon.meter.day, "tokens": 1150}
            return list(r.server.messages), camera_off_at, refused_at

    messages, camera_off_at, refused_at = run(scenario())
    subs = [m.sub for m in messages if m.kind == "realtimeInput"]
    assert "video" in subs  # the camera ran before the budget bit
    late = [m.sub for m in messages[camera_off_at + 3 :] if m.kind == "realtimeInput"]
    assert "video" not in late
    assert "audio" in late  # turns were still allowed between 90 % and 100 %
    assert [m for m in messages[refused_at + 3 :] if m.kind == "realtimeInput"] == []


def test_the_mute_switch_mutes_and_software_cannot_unmute_it(tmp_path: Path) -> None:
    config = base_config(tmp_path, "", mute_switch={"pin": 24})

    async def scenario() -> None:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 10, "listening")
            hw = r.daemon.hardware
            assert hw is not None
            hw.set_mute_switch(True)
            await wait_until(lambda: r.daemon.phase is Phase.MUTED, 5, "muted by the switch")
            r.daemon.post(ev.MuteRequested(False, "ctl"))
            frames = r.daemon.hardware.audio.mic_frames  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.hardware.audio.mic_frames > frames + 8000, 5, "0.5 s")  # type: ignore[union-attr]
            assert r.daemon.phase is Phase.MUTED  # ctl unmute refused
            hw.set_mute_switch(False)
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 5, "unmuted by the switch")

    run(scenario())
