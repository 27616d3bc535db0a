"""Fake Live scripts from JSON files, built-in script names, and the wire helpers."""

from __future__ import annotations

import base64
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from edge_agent.live.fake_script import (
    OUTPUT_RATE,
    Close,
    Echo,
    FunctionCallSpec,
    InputTranscript,
    OnSpeechEnd,
    RenderContext,
    ResumptionUpdate,
    ToolCall,
    b64decode_any,
    duration,
    field,
    load_script,
    render,
    truncate_reason,
)
from edge_agent.live.fake_server import FakeLiveServer
from tests.live.conftest import (
    live,
    random_pcm,
    receive_turn,
    run,
    silence,
)

# ------------------------------------------------------------------ scripts from JSON


def write_wav(path: Path, pcm: bytes, rate: int = OUTPUT_RATE, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def write_script(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_json_script_loads_and_runs(tmp_path: Path) -> None:
    pcm = random_pcm(0.2, OUTPUT_RATE, seed=4)
    write_wav(tmp_path / "reply.wav", pcm)
    spec = write_script(
        tmp_path / "script.json",
        {
            "steps": [
                {
                    "on": "setup",
                    "do": [
                        {"input_transcript": {"text": "hi"}},
                        {"audio": {"wav": "reply.wav", "transcript": "Hello", "parts_per_message": 2}},
                        {"tool_call": {"calls": [{"name": "set_led", "args": {"on": True}, "id": "c1"}]}},
                        "turn_complete",
                    ],
                },
                {"on": {"speech_end": {"silence_ms": 300}}, "do": [{"echo": {}}, {"close": {"code": 1000}}]},
            ]
        },
    )
    script = load_script(spec)
    assert script.name == "script" and not script.repeat
    assert script.steps[1].on == OnSpeechEnd(silence_ms=300)
    assert script.steps[0].do[2] == ToolCall((FunctionCallSpec("set_led", {"on": True}, "c1"),))
    assert script.steps[1].do == (Echo(), Close(1000))

    async def scenario() -> list[types.LiveServerMessage]:
        async with FakeLiveServer(script) as server, live(server) as session:
            return await receive_turn(session)

    turn = run(scenario())
    assert turn[0].server_content is not None and turn[0].server_content.input_transcription is not None
    assert turn[0].server_content.input_transcription.text == "hi"
    assert turn[0].server_content.input_transcription.finished is True
    assert b"".join(m.data or b"" for m in turn) == pcm


@pytest.mark.parametrize(
    ("doc", "where", "what"),
    [
        (
            {"steps": [{"on": "setup", "do": [{"audio": {"wav": "stereo.wav"}}]}]},
            "steps[0].do[0].audio.wav",
            "2 channel",
        ),
        (
            {"steps": [{"on": "setup", "do": [{"audio": {"wav": "missing.wav"}}]}]},
            "steps[0].do[0].audio.wav",
            "missing",
        ),
        ({"steps": [{"on": "setup", "do": ["dance"]}]}, "steps[0].do[0]", "turn_complete"),
        ({"steps": [{"on": {"after": {"seconds": "soon"}}}]}, "steps[0].on.after.seconds", "number"),
        ({"steps": [{"on": {"speech_end": {"silence": 3}}}]}, "steps[0].on.speech_end.silence", "silence_ms"),
        ({"steps": [{"on": "setup", "do": [{"close": {"code": 1006}}]}]}, "steps[0].do[0].close", "Drop()"),
        ({"steps": [{"do": []}]}, "steps[0]", '"on"'),
        ({"step": []}, "steps", "steps"),
    ],
)
def test_bad_json_script_names_the_step_and_field(tmp_path: Path, doc: Any, where: str, what: str) -> None:
    write_wav(tmp_path / "stereo.wav", silence(0.1, OUTPUT_RATE), channels=2)
    spec = write_script(tmp_path / "bad.json", doc)
    with pytest.raises(ValueError) as caught:
        load_script(spec)
    message = str(caught.value)
    assert message.startswith(f"{spec}: {where}: ")
    assert what in message


def test_unknown_script_name_lists_the_builtins() -> None:
    with pytest.raises(ValueError, match="echo"):
        load_script("no-such-script")


# ------------------------------------------------------------------ wire helpers


def test_wire_helpers() -> None:
    assert truncate_reason("é" * 100) == "é" * 61  # 122 bytes: never half a character
    assert len(truncate_reason("x" * 200).encode()) == 123
    assert [duration(s) for s in (10, 0.5, 1.25, 0.000001, 1e-9)] == [
        "10s",
        "0.500s",
        "1.250s",
        "0.000001s",
        "0.000000001s",
    ]
    data = bytes(range(256))
    for encoded in (
        base64.b64encode(data),
        base64.urlsafe_b64encode(data),
        base64.urlsafe_b64encode(data).rstrip(b"="),
    ):
        assert b64decode_any(encoded.decode()) == data
    assert field({"mime_type": "a"}, "mimeType") == field({"mimeType": "a"}, "mime_type") == "a"
    context = RenderContext()
    calls = ToolCall((FunctionCallSpec("a"), FunctionCallSpec("b", id="x"), FunctionCallSpec("c")))
    payload = render(calls, context)[0].payload
    assert [c["id"] for c in payload["toolCall"]["functionCalls"]] == ["call-1", "x", "call-2"]
    assert render(ResumptionUpdate(None, False), context)[0].payload == {"sessionResumptionUpdate": {}}
    assert render(InputTranscript("so", finished=False), context)[0].payload == {
        "serverContent": {"inputTranscription": {"text": "so"}}
    }
