"""The whole daemon on simulated hardware, the real google-genai SDK, the in-package fake server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from tests.conftest import (
    base_config,
    noise,
    read_wav,
    run,
    running_daemon,
    speech_like_mic,
    wait_until,
    write_wav,
)

REPLY = noise(1.2, 24000, seed=7)


def find(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Index of ``needle`` inside ``haystack`` as an exact sample run, or -1."""
    return haystack.tobytes().find(needle.tobytes()) // 2 if needle.tobytes() in haystack.tobytes() else -1


def reply_script(*extra: fs.Step) -> fs.Script:
    return fs.Script(
        steps=(
            fs.Step(
                on=fs.OnSpeechEnd(),
                do=(
                    fs.InputTranscript("what time is it", finished=True),
                    fs.Audio(REPLY.tobytes(), chunk_ms=40, parts_per_message=2, transcript="It is noon."),
                    fs.GenerationComplete(),
                    fs.TurnComplete(),
                ),
            ),
            *extra,
        )
    )


@pytest.mark.parametrize("chunk_ms", [20, 40])
def test_a_full_turn_end_to_end(tmp_path: Path, mic_wav: Path, chunk_ms: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent")
    config = base_config(tmp_path, "", audio={"chunk_ms": chunk_ms}, simulated={"mic_wav": str(mic_wav)})

    async def scenario() -> tuple[bytes, list[fs.ClientMessage], dict[str, object]]:
        async with running_daemon(reply_script(), config) as r:
            await wait_until(lambda: r.daemon.turns_played >= 1, 20, "the reply to finish playing")
            assert r.daemon.phase is Phase.LISTENING
            return r.server.audio_received(), list(r.server.messages), r.server.connections[0].setup

    received_bytes, messages, setup_message = run(scenario())

    # The setup message carries the configured model, voice, instruction, transcription and tools.
    setup = json.dumps(setup_message)
    assert "models/test-model" in setup and "Kore" in setup and "Be brief." in setup
    assert (
        fs.field(setup_message, "inputAudioTranscription") == {}
        and fs.field(setup_message, "outputAudioTranscription") == {}
    )
    declared = [d["name"] for t in fs.field(setup_message, "tools") for d in fs.field(t, "functionDeclarations")]
    assert declared == ["set_output", "get_outputs", "get_device_status", "get_volume", "set_volume"]

    # Microphone audio arrives as 16 kHz PCM in chunks of the configured size, bit-exact.
    audio = [m for m in messages if m.kind == "realtimeInput" and m.sub == "audio"]
    assert audio, "no microphone audio reached the server"
    for m in audio:
        assert [fs.field(b, "mimeType") for b in m.audio_blobs()] == ["audio/pcm;rate=16000"]
        assert len(m.pcm()) == 16000 * 2 * chunk_ms // 1000
    received = np.frombuffer(received_bytes, dtype="<i2")
    mic = np.concatenate([speech_like_mic(), np.zeros(16000 * 30, dtype=np.int16)])
    first_sound = int(np.flatnonzero(received)[0])
    start = find(mic, received[first_sound : first_sound + 1600]) - first_sound
    assert start >= 0, "uplink audio is not the microphone's signal"
    assert np.array_equal(received, mic[start : start + received.size])

    # The reply lands in the speaker WAV bit-exact, in order; everything else is silence.
    played, rate = read_wav(tmp_path / "speaker.wav")
    assert rate == 24000
    at = find(played, REPLY)
    assert at >= 0, "the reply is not in the speaker WAV bit-exact"
    assert not played[:at].any() and not played[at + REPLY.size :].any()

    # Both sides' transcriptions are logged at INFO.
    lines = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.INFO]
    assert "User: what time is it" in lines
    assert "Gemini: It is noon." in lines


def test_interrupted_mid_reply_stops_playback_and_never_plays_the_rest(tmp_path: Path, mic_wav: Path) -> None:
    long_reply = noise(4.0, 24000, seed=11)
    script = fs.Script(
        steps=(
            fs.Step(
                on=fs.OnSpeechEnd(),
                do=(fs.Audio(long_reply.tobytes()), fs.Wait(0.8), fs.Interrupted(), fs.TurnComplete()),
            ),
        )
    )
    config = base_config(tmp_path, "", simulated={"mic_wav": str(mic_wav)})

    async def scenario() -> None:
        async with running_daemon(script, config) as r:
            await wait_until(r.server.script_done.is_set, 20, "the script")
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 10, "listening again")
            played_at_interrupt = r.daemon.engine.samples_played  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.engine.samples_played == played_at_interrupt, 1, "silence")  # type: ignore[union-attr]
            # Stay a while: nothing queued before the interruption may play now.
            frames = r.daemon.hardware.audio.speaker_frames  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.hardware.audio.speaker_frames > frames + 24000, 5, "1 s more output")  # type: ignore[union-attr]

    run(scenario())
    played, _ = read_wav(tmp_path / "speaker.wav")
    start = find(played, long_reply[:2400])
    assert start >= 0, "the reply never started"
    n = 0
    while start + n < played.size and n < long_reply.size and played[start + n] == long_reply[n]:
        n += 1
    assert 2400 <= n < long_reply.size - 24000, f"played {n} samples of {long_reply.size}"
    assert not played[start + n :].any(), "audio queued before the interruption was played after it"


def test_gpio_log_records_initial_state_tool_changes_and_safe_state(tmp_path: Path, mic_wav: Path) -> None:
    script = fs.Script(
        steps=(
            fs.Step(
                on=fs.OnSpeechEnd(),
                do=(fs.ToolCall((fs.FunctionCallSpec("set_output", {"name": "fan", "on": True}, id="c1"),)),),
            ),
            fs.Step(on=fs.OnToolResponse(), do=(fs.TurnComplete(),)),
        )
    )
    config = base_config(tmp_path, "", simulated={"mic_wav": str(mic_wav)})

    async def scenario() -> None:
        async with running_daemon(script, config) as r:
            await wait_until(r.server.script_done.is_set, 20, "the script")

    run(scenario())
    log = [json.loads(line) for line in (tmp_path / "gpio.jsonl").read_text().splitlines()]
    assert [(e["output"], e["pin"], e["state"]) for e in log] == [
        ("kitchen_light", 17, False),
        ("fan", 22, False),
        ("fan", 22, True),
        ("fan", 22, False),  # the safe state on exit
    ]
    assert all(isinstance(e["time"], float) for e in log)


def test_tool_calls_through_the_sdk_good_and_bad(tmp_path: Path, mic_wav: Path) -> None:
    calls = (
        fs.FunctionCallSpec("set_output", {"name": "garage", "on": True}, id="unknown-name"),
        fs.FunctionCallSpec("set_output", {"name": "kitchen_light", "on": "yes"}, id="wrong-type"),
        fs.FunctionCallSpec("set_output", {"name": "kitchen_light"}, id="missing-field"),
        fs.FunctionCallSpec("set_output", {"name": "kitchen_light", "on": True}, id="good"),
    )
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.ToolCall(calls[:3]),)),
            fs.Step(on=fs.OnToolResponse(), do=(fs.ToolCall(calls[3:]),)),
            fs.Step(on=fs.OnToolResponse(), do=(fs.TurnComplete(),)),
        )
    )
    config = base_config(tmp_path, "", simulated={"mic_wav": str(mic_wav)})

    async def scenario() -> tuple[list[dict[str, object]], dict[int, list[float]]]:
        async with running_daemon(script, config) as r:
            await wait_until(r.server.script_done.is_set, 20, "the script")
            factory = r.daemon.hardware.pin_factory  # type: ignore[union-attr]
            return r.server.tool_responses(), {pin: [s.state for s in factory.pin(pin).states] for pin in (17, 22)}

    responses, pins = run(scenario())
    assert [(r["id"], r["name"]) for r in responses] == [(c.id, c.name) for c in calls]
    errors = [str(r["response"].get("error", "")) for r in responses]  # type: ignore[union-attr]
    assert (
        "garage" in errors[0] and "on: Input should be a valid boolean" in errors[1] and "Field required" in errors[2]
    )
    assert responses[3]["response"] == {"output": "kitchen_light", "on": True, "changed": True}
    # One change on the light (the good call), none on the fan: the bad calls touched no pin.
    assert pins == {17: [False, 1], 22: [False, 1]}  # the fan's 1 is its active-low "off" at start
    log = [json.loads(line) for line in (tmp_path / "gpio.jsonl").read_text().splitlines()]
    assert [(e["output"], e["state"]) for e in log if e["output"] == "kitchen_light"] == [
        ("kitchen_light", False),
        ("kitchen_light", True),
        ("kitchen_light", False),
    ]


def test_several_turns_on_one_connection(tmp_path: Path) -> None:
    """receive() ends at every turnComplete; the daemon must keep listening for the next turn."""
    mic = np.concatenate([speech_like_mic(0.3, 0.5), np.zeros(16000, dtype=np.int16), noise(0.5, 16000, seed=2)])
    mic_wav = write_wav(tmp_path / "two.wav", mic, 16000)
    first, second = noise(0.3, 24000, seed=21), noise(0.3, 24000, seed=22)
    turn = (fs.GenerationComplete(), fs.TurnComplete())
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.Audio(first.tobytes(), transcript="One."), *turn)),
            fs.Step(on=fs.OnSpeechEnd(), do=(fs.Audio(second.tobytes(), transcript="Two."), *turn)),
        )
    )
    config = base_config(tmp_path, "", simulated={"mic_wav": str(mic_wav)})

    async def scenario() -> int:
        async with running_daemon(script, config) as r:
            await wait_until(lambda: r.daemon.turns_played >= 2, 20, "two replies")
            return len(r.server.connections)

    assert run(scenario()) == 1
    played, _ = read_wav(tmp_path / "speaker.wav")
    assert 0 <= find(played, first) < find(played, second)
