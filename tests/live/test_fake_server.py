"""The fake Live server, driven by the real google-genai SDK over TLS on loopback (no mocks, no network)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import warnings
import wave
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import websockets
from google import genai
from google.genai import errors, types
from websockets.asyncio.client import connect as ws_connect

from edge_agent.live.fake_script import (
    OUTPUT_RATE,
    After,
    Audio,
    ClientMessage,
    Close,
    Drop,
    Echo,
    FunctionCallSpec,
    GenerationComplete,
    GoAway,
    InputTranscript,
    OnAudio,
    OnSetup,
    OnSpeechEnd,
    OnText,
    OnToolResponse,
    RenderContext,
    ResumptionUpdate,
    Script,
    Step,
    ToolCall,
    TurnComplete,
    Usage,
    audio_messages,
    b64decode_any,
    duration,
    field,
    load_script,
    render,
    truncate_reason,
    watch,
)
from edge_agent.live.fake_server import UNREGISTERED, FakeLiveServer

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
TIMEOUT = 10.0
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
T = TypeVar("T")


def run(scenario: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario, TIMEOUT)

    return asyncio.run(bounded())


def sdk_client(server: FakeLiveServer, api_key: str | None = None, api_version: str = "v1beta") -> genai.Client:
    return genai.Client(
        api_key=api_key or server.api_key,
        http_options=types.HttpOptions(
            base_url=server.base_url,
            api_version=api_version,
            async_client_args={"ssl": server.client_ssl_context()},
        ),
    )


AUDIO_CONFIG = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])


def live(server: FakeLiveServer, config: types.LiveConnectConfig = AUDIO_CONFIG) -> Any:
    return sdk_client(server).aio.live.connect(model=MODEL, config=config)


async def receive_turn(session: Any) -> list[types.LiveServerMessage]:
    return [message async for message in session.receive()]


def tone(seconds: float, rate: int = 16_000, dbfs: float = -20.0, hz: float = 440.0) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    amplitude = 32767 * 10 ** (dbfs / 20) * np.sqrt(2)  # RMS of the sine = dbfs
    return bytes((amplitude * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes())


def silence(seconds: float, rate: int = 16_000) -> bytes:
    return bytes(2 * round(seconds * rate))


def chunks(pcm: bytes, ms: int = 40, rate: int = 16_000) -> list[bytes]:
    size = rate * 2 * ms // 1000
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def random_pcm(seconds: float, rate: int, seed: int) -> bytes:
    return bytes(np.random.default_rng(seed).integers(-32768, 32767, round(seconds * rate), dtype="<i2").tobytes())


# ------------------------------------------------------------------ setup and input


def test_setup_is_recorded_and_answered_with_setup_complete() -> None:
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Puck"))
        ),
        system_instruction="You are a kitchen speaker.",
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="set_led",
                        description="Switch the LED.",
                        parameters=types.Schema(
                            type=types.Type.OBJECT,
                            properties={"on": types.Schema(type=types.Type.BOOLEAN)},
                            required=["on"],
                        ),
                    )
                ]
            )
        ],
    )

    async def scenario() -> None:
        async with FakeLiveServer() as server:
            async with live(server, config) as session:
                assert session.setup_complete is not None
            record = server.connections[0]
            setup = record.setup
            assert setup is not None
            assert field(setup, "model") == f"models/{MODEL}"
            generation = field(setup, "generationConfig")
            assert field(generation, "responseModalities") == ["AUDIO"]
            voice = field(field(field(generation, "speechConfig"), "voiceConfig"), "prebuiltVoiceConfig")
            assert field(voice, "voiceName") == "Puck"
            assert field(setup, "systemInstruction")["parts"] == [{"text": "You are a kitchen speaker."}]
            assert field(setup, "inputAudioTranscription") == {}
            assert field(setup, "outputAudioTranscription") == {}
            declaration = field(field(setup, "tools")[0], "functionDeclarations")[0]
            assert declaration["name"] == "set_led"
            assert record.accepted and record.api_version == "v1beta"
            assert record.method == "BidiGenerateContent"
            assert record.headers["x-goog-api-key"] == "<redacted>"
            assert server.api_key not in json.dumps(record.headers)
            assert [(m.kind, m.connection) for m in server.messages] == [("setup", 0)]
            assert server.sent[0].payload == {"setupComplete": {}}
        assert (record.close_code, record.closed_by) == (1000, "client")  # final once the server closed

    run(scenario())


def test_realtime_audio_is_decoded_bit_exact() -> None:
    pcm = random_pcm(1.0, 16_000, seed=1)  # random bytes: the SDK's URL-safe base64 uses '-' and '_'
    script = Script(steps=(Step(OnAudio(1.0), (TurnComplete(),)),))

    async def scenario() -> None:
        async with FakeLiveServer(script) as server:
            async with live(server) as session:
                *most, last = chunks(pcm, ms=100)
                for chunk in most:
                    await session.send_realtime_input(audio=types.Blob(data=chunk, mime_type="audio/pcm;rate=16000"))
                # The deprecated media= argument sends realtimeInput.mediaChunks; its audio counts too.
                await session.send_realtime_input(media=types.Blob(data=last, mime_type="audio/pcm;rate=16000"))
                await receive_turn(session)
            await server.wait_script_done(TIMEOUT)
            assert server.audio_received() == pcm
            assert server.audio_received(connection=0) == pcm
            assert [m.sub for m in server.messages[1:]] == ["audio"] * 9 + ["mediaChunks"]

    run(scenario())


def test_speech_end_fires_after_tone_and_silence_and_echo_plays_it_back() -> None:
    # 1 s silence, 480 ms tone, 1 s silence in 40 ms chunks. The VAD must ignore the leading
    # silence and fire on the 25th quiet 20 ms window after the tone, in the 13th chunk of
    # the trailing silence. The echo holds what was heard until then: 25 + 12 + 13 chunks.
    signal = silence(1.0) + tone(0.48) + silence(1.0)

    async def scenario() -> None:
        async with FakeLiveServer(load_script("echo")) as server:
            async with live(server) as session:
                for chunk in chunks(signal):
                    await session.send_realtime_input(audio=types.Blob(data=chunk, mime_type="audio/pcm;rate=16000"))
                turn = await receive_turn(session)
            echo = b"".join(m.data or b"" for m in turn)
            assert len(echo) == 2 * round(50 * 0.040 * OUTPUT_RATE)
            transcript = "".join(
                m.server_content.output_transcription.text or ""
                for m in turn
                if m.server_content and m.server_content.output_transcription
            )
            assert transcript == "(echo)"
            assert turn[-1].server_content is not None and turn[-1].server_content.turn_complete

    run(scenario())


def message(sub: str, payload: dict[str, Any] | None = None) -> ClientMessage:
    return ClientMessage(0, 0.0, "realtimeInput", payload or {sub: {}}, sub)


def audio_message(pcm: bytes) -> ClientMessage:
    blob = {"mime_type": "audio/pcm;rate=16000", "data": base64.urlsafe_b64encode(pcm).decode()}
    return message("audio", {"audio": blob})


def test_speech_end_does_not_fire_on_silence_noise_or_a_click() -> None:
    watcher = watch(OnSpeechEnd())
    noise = (np.random.default_rng(2).normal(0, 10, 16_000 * 3)).astype("<i2").tobytes()  # about -70 dBFS
    click = tone(0.06) + silence(1.0)  # loud for less than min_speech_ms
    assert not any(watcher.feed(audio_message(c)) for c in chunks(silence(3.0) + noise + click))


def test_speech_end_fires_on_activity_end_and_on_stream_end_after_speech() -> None:
    assert watch(OnSpeechEnd()).feed(message("activityEnd"))
    watcher = watch(OnSpeechEnd())
    assert not watcher.feed(message("audioStreamEnd", {"audioStreamEnd": True}))
    assert not any(watcher.feed(audio_message(c)) for c in chunks(tone(0.3)))
    assert watcher.feed(message("audioStreamEnd", {"audioStreamEnd": True}))


# ------------------------------------------------------------------ model output


def test_audio_parts_and_transcript_arrive_together_and_bit_exact() -> None:
    pcm = random_pcm(1.0, OUTPUT_RATE, seed=3)
    words = "The quick brown fox jumps over the lazy dog."
    script = Script(
        steps=(Step(OnSetup(), (Audio(pcm, chunk_ms=40, parts_per_message=2, transcript=words), TurnComplete())),)
    )

    async def scenario() -> None:
        async with FakeLiveServer(script) as server, live(server) as session:
            turn = await receive_turn(session)
        audio_turn = [m for m in turn if m.server_content and m.server_content.model_turn]
        assert len(audio_turn) == 13  # 25 parts of 40 ms, 2 per message
        texts = []
        for m in audio_turn:
            assert m.server_content is not None and m.server_content.model_turn is not None
            parts = m.server_content.model_turn.parts or []
            assert len(parts) == (2 if m is not audio_turn[-1] else 1)
            assert all(p.inline_data and p.inline_data.mime_type == "audio/pcm;rate=24000" for p in parts)
            if m.server_content.output_transcription:  # in the same message as the parts
                texts.append(m.server_content.output_transcription.text or "")
        assert len(texts) == 9  # one word per message, spread over 13 messages
        assert "".join(texts) == words
        assert b"".join(m.data or b"" for m in audio_turn) == pcm

    run(scenario())


def test_audio_messages_spread_words_and_pace_at_real_time() -> None:
    pcm = silence(0.2, OUTPUT_RATE)
    messages = audio_messages(pcm, chunk_ms=40, parts_per_message=1, transcript="a b", realtime=True)
    assert len(messages) == 5
    assert [m.payload["serverContent"].get("outputTranscription") for m in messages] == [
        None,
        None,
        {"text": "a "},
        None,
        {"text": "b"},
    ]
    assert sum(m.pace_s for m in messages) == pytest.approx(0.2)
    only_text = audio_messages(b"", 40, 1, "hello", realtime=False)
    assert [m.payload for m in only_text] == [{"serverContent": {"outputTranscription": {"text": "hello"}}}]


def test_tool_call_round_trip() -> None:
    script = Script(
        steps=(
            Step(OnSetup(), (ToolCall((FunctionCallSpec("set_led", {"on": True}),)),)),
            Step(OnToolResponse(), (GenerationComplete(), TurnComplete())),
        )
    )

    async def scenario() -> None:
        async with FakeLiveServer(script) as server:
            async with live(server) as session:
                calls: list[types.FunctionCall] = []
                async for m in session.receive():
                    if m.tool_call:
                        calls += m.tool_call.function_calls or []
                        await session.send_tool_response(
                            function_responses=[
                                types.FunctionResponse(id=c.id, name=c.name, response={"result": "ok"})
                                for c in m.tool_call.function_calls or []
                            ]
                        )
            await server.wait_script_done(TIMEOUT)
        assert [(c.id, c.name, c.args) for c in calls] == [("call-1", "set_led", {"on": True})]
        assert server.tool_responses() == [{"id": "call-1", "name": "set_led", "response": {"result": "ok"}}]

    run(scenario())


def test_go_away_resumption_and_reconnect_continue_the_script() -> None:
    script = Script(
        steps=(
            Step(OnSetup(), (ResumptionUpdate("handle-1"), GoAway(0.5), Usage(10, 5), TurnComplete())),
            Step(OnSetup(), (ResumptionUpdate(None, resumable=False), TurnComplete())),
        )
    )
    resumption = types.SessionResumptionConfig()

    async def scenario() -> None:
        async with FakeLiveServer(script) as server:
            client = sdk_client(server)
            config = AUDIO_CONFIG.model_copy(update={"session_resumption": resumption})
            async with client.aio.live.connect(model=MODEL, config=config) as session:
                first = await receive_turn(session)
            update = first[0].session_resumption_update
            assert update is not None and (update.new_handle, update.resumable) == ("handle-1", True)
            assert first[1].go_away is not None and first[1].go_away.time_left == "0.500s"
            usage = first[2].usage_metadata
            assert usage is not None and (usage.prompt_token_count, usage.total_token_count) == (10, 15)
            handle = types.SessionResumptionConfig(handle=update.new_handle)
            config = AUDIO_CONFIG.model_copy(update={"session_resumption": handle})
            async with client.aio.live.connect(model=MODEL, config=config) as session:
                second = await receive_turn(session)
            update = second[0].session_resumption_update
            assert update is not None and (update.new_handle, update.resumable) == (None, None)
            await server.wait_script_done(TIMEOUT)
            assert field(field(server.connections[1].setup or {}, "sessionResumption"), "handle") == "handle-1"

    run(scenario())


# ------------------------------------------------------------------ errors and closes


def test_wrong_api_key_raises_api_error_1007_from_connect() -> None:
    async def scenario() -> None:
        async with FakeLiveServer() as server:
            with pytest.raises(errors.APIError) as caught:
                async with sdk_client(server, api_key="wrong").aio.live.connect(model=MODEL, config=AUDIO_CONFIG):
                    pass
            assert caught.value.code == 1007
            assert caught.value.details == "API key not valid. Please pass a valid API key."
        record = server.connections[0]
        assert (record.accepted, record.close_code, record.closed_by) == (False, 1007, "server")

    run(scenario())


def test_unknown_model_raises_api_error_1008() -> None:
    async def scenario() -> None:
        async with FakeLiveServer(models=["gemini-live-a"]) as server:
            with pytest.raises(errors.APIError) as caught:
                async with sdk_client(server).aio.live.connect(model="gemini-live-b", config=AUDIO_CONFIG):
                    pass
            assert caught.value.code == 1008
            assert str(caught.value.details).startswith(
                "models/gemini-live-b is not found for API version v1beta, or is not supported"
            )
        record = server.connections[0]
        assert not record.accepted and field(record.setup or {}, "model") == "models/gemini-live-b"

    run(scenario())


def raw_url(server: FakeLiveServer, path: str = PATH) -> str:
    return server.base_url.replace("https://", "wss://") + path


SETUP = json.dumps({"setup": {"model": f"models/{MODEL}"}})


def test_missing_key_closes_1008_with_reason_cut_to_123_bytes() -> None:
    async def scenario() -> None:
        async with FakeLiveServer() as server:
            async with ws_connect(raw_url(server), ssl=server.client_ssl_context()) as ws:
                await ws.send(SETUP)
                with pytest.raises(websockets.ConnectionClosedError) as caught:
                    await ws.recv()
            assert caught.value.rcvd is not None
            assert caught.value.rcvd.code == 1008
            assert caught.value.rcvd.reason == UNREGISTERED[1]
            assert len(UNREGISTERED[1].encode()) == 123
            assert UNREGISTERED[1].startswith("Method doesn't allow unregistered callers")

    run(scenario())


def test_query_key_double_slash_binary_frames_and_404_for_other_paths() -> None:
    async def scenario() -> None:
        async with FakeLiveServer() as server:
            context = server.client_ssl_context()
            url = raw_url(server, "/" + PATH + "?key=" + server.api_key)
            async with ws_connect(url, ssl=context) as ws:
                await ws.send(SETUP)
                reply = await ws.recv()
            assert isinstance(reply, bytes)  # the service sends binary frames of UTF-8 JSON
            assert json.loads(reply) == {"setupComplete": {}}
            assert server.connections[0].path == "//" + PATH[1:] + "?key=<redacted>"
            with pytest.raises(websockets.InvalidStatus) as caught:
                async with ws_connect(raw_url(server, "/ws/other"), ssl=context):
                    pass
            assert caught.value.response.status_code == 404

    run(scenario())


def test_ephemeral_token_only_on_the_constrained_method() -> None:
    token = "auth_tokens/abc"

    async def scenario() -> None:
        async with FakeLiveServer(ephemeral_tokens={token}) as server:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", errors.ExperimentalWarning)
                client = sdk_client(server, api_key=token, api_version="v1alpha")
                async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
                    assert session.setup_complete is not None
                assert server.connections[0].method == "BidiGenerateContentConstrained"
                with pytest.raises(errors.APIError) as caught:
                    bad = sdk_client(server, api_key="auth_tokens/other", api_version="v1alpha")
                    async with bad.aio.live.connect(model=MODEL, config=AUDIO_CONFIG):
                        pass
                assert caught.value.code == 1008
            assert server.connections[0].headers["authorization"] == "<redacted>"

    run(scenario())


@pytest.mark.parametrize(
    ("action", "code", "reason"),
    [
        (Close(1011, "Internal error occurred."), 1011, "Internal error occurred."),
        # receive() takes the 1006 text from websockets ("abnormal closure [internal]" in 17.x).
        (Drop(), 1006, websockets.frames.CLOSE_CODE_EXPLANATIONS[1006]),
    ],
)
def test_close_and_drop_surface_as_api_error_from_receive(action: Close | Drop, code: int, reason: str) -> None:
    script = Script(steps=(Step(OnText(), (InputTranscript("hi"), action)),))

    async def scenario() -> None:
        async with FakeLiveServer(script) as server:
            async with live(server) as session:
                await session.send_realtime_input(text="hello")
                with pytest.raises(errors.APIError) as caught:
                    await receive_turn(session)
            assert (caught.value.code, caught.value.details) == (code, reason)
            await server.wait_script_done(TIMEOUT)
        record = server.connections[0]
        assert record.close_code == code
        assert record.dropped == isinstance(action, Drop)

    run(scenario())


def test_server_close_sends_1001_and_is_idempotent() -> None:
    async def scenario() -> None:
        server = FakeLiveServer()
        await server.start()
        await server.start()
        async with live(server) as session:
            await server.close()
            with pytest.raises(errors.APIError) as caught:
                await receive_turn(session)
        await server.close()
        assert caught.value.code == 1001
        assert server.connections[0].closed_by == "server"

    run(scenario())


def test_invalid_client_json_closes_1007() -> None:
    async def scenario() -> None:
        async with FakeLiveServer() as server:
            url = raw_url(server) + "?key=" + server.api_key
            async with ws_connect(url, ssl=server.client_ssl_context()) as ws:
                await ws.send(SETUP)
                await ws.recv()
                await ws.send('{"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": "%%%"}}}')
                with pytest.raises(websockets.ConnectionClosedError) as caught:
                    await ws.recv()
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 1007
            assert "Base64 decoding failed" in caught.value.rcvd.reason

    run(scenario())


def test_wait_script_done_names_the_step_it_is_stuck_on() -> None:
    script = Script(steps=(Step(After(0), ()), Step(OnToolResponse(), (TurnComplete(),))))

    async def scenario() -> None:
        async with FakeLiveServer(script) as server:
            with pytest.raises(TimeoutError, match=r"step 2/2: waiting for OnToolResponse\(\)"):
                await server.wait_script_done(0.2)

    run(scenario())


def test_save_record_writes_json_lines_without_audio_or_secrets(tmp_path: Path) -> None:
    script = Script(steps=(Step(OnAudio(0.1), (Audio(silence(0.08, OUTPUT_RATE)), TurnComplete())),))

    async def scenario() -> FakeLiveServer:
        async with FakeLiveServer(script) as server, live(server) as session:
            await session.send_realtime_input(audio=types.Blob(data=silence(0.1), mime_type="audio/pcm;rate=16000"))
            await receive_turn(session)
        return server

    server = run(scenario())
    server.save_record(tmp_path / "record.jsonl")
    text = (tmp_path / "record.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["type"] for r in rows] == ["connection", "client", "server", "client", "server", "server", "server"]
    assert rows[3]["sub"] == "audio" and rows[3]["payload"]["audio"]["dataBytes"] == 3200
    assert rows[4]["payload"]["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["dataBytes"] == 1920
    assert server.api_key not in text
    assert [r["t"] for r in rows[1:]] == sorted(r["t"] for r in rows[1:])


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


def test_write_ca_serves_as_ssl_cert_file_for_a_client_in_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with FakeLiveServer() as server:
            server.write_ca(tmp_path / "ca.pem")
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # read when the Client is made
            options = types.HttpOptions(base_url=server.base_url, api_version="v1beta")
            client = genai.Client(api_key=server.api_key, http_options=options)
            async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
                assert session.setup_complete is not None

    run(scenario())


def test_client_ssl_context_trusts_only_the_fake_ca() -> None:
    async def scenario() -> None:
        async with FakeLiveServer() as server:
            context = server.client_ssl_context()
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
            assert len(context.get_ca_certs()) == 1
            assert server.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")

    run(scenario())
