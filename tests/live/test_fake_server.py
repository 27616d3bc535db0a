"""The fake Live server, driven by the real google-genai SDK over TLS on loopback (no mocks, no network).

Setup, client input, model output and TLS; errors and closes are in ``test_fake_server_errors.py``,
scripts and wire helpers in ``test_fake_script.py``.
"""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google import genai
from google.genai import types

from edge_agent.live.fake_script import (
    OUTPUT_RATE,
    Audio,
    ClientMessage,
    FunctionCallSpec,
    GenerationComplete,
    GoAway,
    OnAudio,
    OnSetup,
    OnSpeechEnd,
    OnToolResponse,
    ResumptionUpdate,
    Script,
    Step,
    ToolCall,
    TurnComplete,
    Usage,
    audio_messages,
    field,
    load_script,
    watch,
)
from edge_agent.live.fake_server import FakeLiveServer
from tests.live.conftest import (
    AUDIO_CONFIG,
    MODEL,
    TIMEOUT,
    chunks,
    live,
    random_pcm,
    receive_turn,
    run,
    sdk_client,
    silence,
    tone,
)

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
