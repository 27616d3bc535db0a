"""The fake Live server's errors and closes: credentials, models, paths, close and drop, invalid input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import websockets
from google.genai import errors, types
from websockets.asyncio.client import connect as ws_connect

from edge_agent.live.fake_script import (
    OUTPUT_RATE,
    After,
    Audio,
    Close,
    Drop,
    InputTranscript,
    OnAudio,
    OnText,
    OnToolResponse,
    Script,
    Step,
    TurnComplete,
    field,
)
from edge_agent.live.fake_server import UNREGISTERED, FakeLiveServer
from tests.live.conftest import (
    AUDIO_CONFIG,
    MODEL,
    PATH,
    TIMEOUT,
    live,
    receive_turn,
    run,
    sdk_client,
    silence,
)

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
