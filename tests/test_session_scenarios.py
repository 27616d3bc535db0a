"""Scripted session scenarios: the real daemon and SDK against the fake Live server.

Each test is a readable script of what the server does, and asserts on what the server
recorded and what the simulated speaker played.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from tests.conftest import base_config, noise, read_wav, run, running_daemon, speech_like_mic, wait_until, write_wav
from tests.test_daemon import find


def audio_messages(messages: list[fs.ClientMessage]) -> list[fs.ClientMessage]:
    return [m for m in messages if m.kind == "realtimeInput" and m.sub == "audio"]


def test_goaway_hands_over_with_the_newest_handle_before_the_deadline_losing_nothing(tmp_path: Path) -> None:
    mic = np.concatenate([speech_like_mic(0.3, 0.6), noise(4.0, 16000, seed=5, level=300)])  # quiet noise after
    config = base_config(tmp_path, "", simulated={"mic_wav": str(write_wav(tmp_path / "m.wav", mic, 16000))})
    call = fs.FunctionCallSpec("set_output", {"name": "kitchen_light", "on": True}, id="c1")
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSetup(), do=(fs.ResumptionUpdate("h-1", True),)),
            fs.Step(
                on=fs.OnSpeechEnd(threshold_dbfs=-30),
                do=(fs.ResumptionUpdate("h-2", True), fs.ToolCall((call,)), fs.GoAway(2.0)),
            ),
            fs.Step(on=fs.OnToolResponse(), do=(fs.TurnComplete(),)),
        )
    )

    async def scenario() -> fs.FakeLiveServer:
        async with running_daemon(script, config) as r:
            await wait_until(lambda: len(r.server.connections) >= 2, 10, "the handover")
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 10, "listening on the new connection")
            await wait_until(lambda: r.daemon.hardware.audio.mic_frames > 16000 * 4.5, 10, "the mic signal")  # type: ignore[union-attr]
            await wait_until(r.server.script_done.is_set, 10, "the script")
            return r.server

    server = run(scenario())
    first, second = server.connections[0], server.connections[1]
    assert fs.field(fs.field(second.setup, "sessionResumption"), "handle") == "h-2"
    goaway_sent = next(m.t for m in server.sent if m.connection == 0 and "goAway" in m.payload)
    assert second.opened_t < goaway_sent + 2.0, "the new connection came after the deadline"
    assert first.closed_by == "client" and first.close_code == 1000  # the old socket closed cleanly
    assert [r["id"] for r in server.tool_responses()] == ["c1"]  # answered once, not lost
    # Everything the microphone captured arrived, in order, without a gap or a repeat.
    received = np.frombuffer(server.audio_received(0) + server.audio_received(1), dtype="<i2")
    stream = np.concatenate([mic, np.zeros(16000 * 30, dtype=np.int16)])
    start = find(stream, received[:16000])
    assert start >= 0 and np.array_equal(received, stream[start : start + received.size])
    assert received.size >= 16000 * 4


@pytest.mark.parametrize("failure", [fs.Drop(), fs.Close(1011, "Internal error occurred.")], ids=["1006", "1011"])
def test_a_drop_mid_reply_reconnects_and_the_next_turn_works(tmp_path: Path, failure: fs.Action) -> None:
    mic = np.concatenate([speech_like_mic(0.3, 0.5), np.zeros(16000 * 3, dtype=np.int16), noise(0.5, 16000, seed=9)])
    config = base_config(tmp_path, "", simulated={"mic_wav": str(write_wav(tmp_path / "m.wav", mic, 16000))})
    second_reply = noise(0.4, 24000, seed=33)
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.Audio(noise(2.0, 24000, seed=32).tobytes(), realtime=True),)),
            fs.Step(on=fs.After(0.3), do=(failure,)),
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.Audio(second_reply.tobytes()), fs.TurnComplete())),
        )
    )

    async def scenario() -> int:
        async with running_daemon(script, config) as r:
            await wait_until(r.server.script_done.is_set, 20, "the second turn")
            await wait_until(lambda: r.daemon.turns_played >= 2, 10, "the second reply to play")
            return len(r.server.connections)

    assert run(scenario()) == 2
    played, _ = read_wav(tmp_path / "speaker.wav")
    assert find(played, second_reply) >= 0


UNREGISTERED = fs.Close(1008, "Method doesn't allow unregistered callers (callers without established identity).")


@pytest.mark.parametrize(
    ("api_key", "server_says", "expect"),
    [
        ("wrong-key", None, "the API key was refused"),  # the fake closes 1007 after the upgrade
        ("test-key-0123456789", UNREGISTERED, "no usable credential"),  # 1008, as for a missing key
        ("", None, "No API key was provided"),  # the SDK refuses to dial without one
    ],
    ids=["1007-wrong-key", "1008-no-credential", "empty-key"],
)
def test_a_refused_key_retries_slowly_says_what_to_fix_and_keeps_running(
    tmp_path: Path, api_key: str, server_says: fs.Close | None, expect: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="edge_agent")
    config = base_config(tmp_path, "")
    script = fs.Script(steps=(fs.Step(on=fs.OnSetup(), do=(server_says,)),) if server_says else ())

    async def scenario() -> tuple[int, Phase, str]:
        async with running_daemon(script, config, api_key=api_key) as r:
            await wait_until(lambda: r.daemon.phase is Phase.ERROR, 10, "the auth error")
            frames = r.daemon.hardware.audio.mic_frames  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.hardware.audio.mic_frames > frames + 16000 * 3, 10, "3 s")  # type: ignore[union-attr]
            assert not r.task.done()
            return len(r.server.connections), r.daemon.phase, r.daemon.status

    attempts, phase, status = run(scenario())
    assert attempts <= 1  # the first backoff step for "needs a person" is 15-30 s
    assert phase is Phase.ERROR and "check the API key" in status
    assert any(expect in rec.getMessage() and "GEMINI_API_KEY" in rec.getMessage() for rec in caplog.records)


def is_stream_end(message: fs.ClientMessage) -> bool:
    return message.kind == "realtimeInput" and message.sub == "audioStreamEnd"


def test_mute_means_nothing_leaves_the_device_even_across_a_reconnect(tmp_path: Path) -> None:
    config = base_config(
        tmp_path,
        "",
        camera={"backend": "simulated"},
        simulated={"mic_wav": str(write_wav(tmp_path / "m.wav", noise(20, 16000, seed=4), 16000))},
    )
    script = fs.Script(steps=(fs.Step(on=fs.OnText(), do=(fs.Drop(),)),))  # never fires: drops are ours

    async def scenario() -> tuple[list[fs.ClientMessage], int]:
        async with running_daemon(script, config) as r:
            await wait_until(lambda: len(audio_messages(r.server.messages)) > 10, 10, "audio flowing")
            await wait_until(lambda: r.daemon.frames_sent >= 1, 10, "a camera frame")
            from edge_agent import events as ev

            r.daemon.post(ev.MuteRequested(True, "test"))
            await wait_until(lambda: r.daemon.phase is Phase.MUTED, 5, "muted")
            # The drop comes after the server has the mute's audioStreamEnd: dropped first, a signal the
            # client had already written is lost with the socket (WebSocket has no receipt), and which
            # of the two happens first was timing luck on a loaded machine.
            await wait_until(lambda: any(is_stream_end(m) for m in r.server.messages), 5, "audioStreamEnd sent")
            await r.server.drop_connections()
            await wait_until(
                lambda: len(r.server.connections) == 2 and r.daemon.connection.link is not None, 15, "reconnect"
            )  # type: ignore[union-attr]
            frames = r.daemon.hardware.audio.mic_frames  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.hardware.audio.mic_frames > frames + 16000 * 2.5, 10, "2.5 s muted")  # type: ignore[union-attr]
            assert r.daemon.store.load("muted") == {"muted": True}
            return list(r.server.messages), len(audio_messages(r.server.messages))

    messages, _ = run(scenario())
    end = next(i for i, m in enumerate(messages) if is_stream_end(m))
    after = [m for m in messages[end + 1 :] if m.kind == "realtimeInput" and m.sub in ("audio", "video", "mediaChunks")]
    assert after == [], f"{len(after)} media messages left the device while muted"
    assert any(m.connection == 1 for m in messages), "the second connection never happened"
