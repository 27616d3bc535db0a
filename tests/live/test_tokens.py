"""Ephemeral tokens end to end: token server → real SDK minting → fake REST → device → fake Live server.

No network: the fake REST endpoint, the token server and the fake Live server all serve TLS
on loopback, each with a throwaway CA. The real google-genai SDK mints (sync client) and
connects (async client); the device side uses :func:`fetch_token`.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from google import genai
from google.genai import errors, types

from edge_agent.errors import ConfigError
from edge_agent.live.fake_rest import FakeRestServer
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.live.token_client import TokenError, fetch_token
from edge_agent.live.token_server import (
    DeviceSecrets,
    TokenMintError,
    TokenServer,
    fingerprint,
    mint_token,
    serve,
    upstream_client,
)
from tests.live.conftest import MODEL, run

# The SDK flags both halves of the feature as experimental; ignore exactly those two warnings.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:The SDK's token creation implementation is experimental:google.genai.errors.ExperimentalWarning"
    ),
    pytest.mark.filterwarnings(
        "ignore:The SDK's ephemeral token support is experimental:google.genai.errors.ExperimentalWarning"
    ),
]

LONG_KEY = "AIzaLongLivedFleetKey-0123456789"
SECRET = "device-secret-kitchen-0123456789"
OTHER_SECRET = "device-secret-hallway-9876543210"
CONFIG = types.LiveConnectConfig(
    response_modalities=[types.Modality.AUDIO],
    system_instruction=types.Content(role="user", parts=[types.Part(text="Be brief.")]),
)


@dataclass
class Tls:
    certfile: Path
    keyfile: Path
    server: ssl.SSLContext
    client: ssl.SSLContext
    client_ca_pem: bytes


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certfile, keyfile)
    client = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    return Tls(certfile, keyfile, server, client, ca.cert_pem.bytes())


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "devices.txt"
    path.write_text(f"# kitchen speaker\n{SECRET}\n\n{OTHER_SECRET}  # hallway\n")
    return path


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every logger at DEBUG, including edge_agent if a CLI test stopped its propagation."""
    for name in (None, "edge_agent", "google_genai", "httpx", "httpx2", "httpcore", "httpcore2", "websockets"):
        caplog.set_level(logging.DEBUG, logger=name)
    ours = logging.getLogger("edge_agent")
    attached = not ours.propagate
    if attached:
        ours.addHandler(caplog.handler)
    yield caplog
    if attached:
        ours.removeHandler(caplog.handler)


@contextmanager
def token_stack(
    tls: Tls, secrets_file: Path, *, api_key: str = LONG_KEY, **server_args: Any
) -> Iterator[tuple[FakeRestServer, TokenServer]]:
    """A fake REST endpoint (key LONG_KEY) and a token server minting against it with ``api_key``."""
    with FakeRestServer(api_key=LONG_KEY) as rest:
        client = upstream_client(api_key, base_url=rest.base_url, ssl_context=rest.client_ssl_context())
        mint = functools.partial(mint_token, client, model=MODEL, config=CONFIG)
        with TokenServer(mint, DeviceSecrets(secrets_file), tls.server, **server_args) as server:
            yield rest, server


def post(url: str, tls: Tls, headers: dict[str, str], method: str = "POST") -> tuple[int, dict[str, str], Any]:
    """One raw HTTPS request (blocking): status, lower-case headers, parsed JSON body."""
    host_port = url.split("/")[2]
    path = "/" + url.split("/", 3)[3]
    connection = http.client.HTTPSConnection(host_port, context=tls.client, timeout=10)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(body) if body else None
    finally:
        connection.close()


def device_client(live: FakeLiveServer, token: str) -> genai.Client:
    return genai.Client(
        api_key=token,
        http_options=types.HttpOptions(
            api_version="v1alpha", base_url=live.base_url, async_client_args={"ssl": live.client_ssl_context()}
        ),
    )


def _seconds(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ------------------------------------------------------------------ end to end


def test_a_fetched_token_opens_one_constrained_session_and_never_the_key(
    tls: Tls, secrets_file: Path, logs: pytest.LogCaptureFixture
) -> None:
    with token_stack(tls, secrets_file) as (rest, server):

        async def scenario() -> str:
            async with FakeLiveServer(api_key=LONG_KEY, token_check=rest.use_token) as live:
                token = await fetch_token(server.url, SECRET, ssl_context=tls.client)
                async with device_client(live, token).aio.live.connect(model=MODEL, config=CONFIG) as session:
                    assert session.setup_complete is not None
                with pytest.raises(errors.APIError) as again:  # uses=1: the same token is spent
                    async with device_client(live, token).aio.live.connect(model=MODEL, config=CONFIG):
                        pass
                assert again.value.code == 1008
            first, second = live.connections
            assert (first.method, first.api_version, first.accepted) == (
                "BidiGenerateContentConstrained",
                "v1alpha",
                True,
            )
            assert (second.accepted, second.close_code) == (False, 1008)
            assert live.credentials[0]["authorization"] == f"Token {token}"
            assert live.credentials[0].get("x-goog-api-key") != LONG_KEY
            assert all(LONG_KEY not in value for seen in live.credentials for value in seen.values())
            return token

        token = run(scenario())

    assert token.startswith("auth_tokens/")
    assert (rest.minted[token].used, rest.minted[token].refused) == (1, 1)
    (request,) = rest.requests
    assert (request.method, request.path, request.status) == ("POST", "/v1alpha/auth_tokens", 200)
    assert request.headers["x-goog-api-key"] == "<redacted>"
    body = request.body
    assert body["uses"] == 1
    locked = body["fieldMask"].split(",")  # the model and what CONFIG sets; resumption stays the device's
    assert {"model", "generationConfig.responseModalities", "systemInstruction.parts"} <= set(locked)
    assert not any(field.startswith("sessionResumption") for field in locked)
    setup = body["bidiGenerateContentSetup"]
    assert setup["model"] == f"models/{MODEL}"
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert setup["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    now = datetime.now(UTC)
    new_session, expire = _seconds(body["newSessionExpireTime"]), _seconds(body["expireTime"])
    assert timedelta(seconds=50) < new_session - now <= timedelta(seconds=60)
    assert expire - new_session == timedelta(seconds=1800 - 60)

    everything = "\n".join(f"{r.name} {r.getMessage()}" for r in logs.records)
    assert fingerprint(SECRET) in everything
    assert LONG_KEY not in everything  # at any level, from any logger, the SDK's and httpx's included
    assert SECRET not in everything
    # websockets logs handshake headers at DEBUG (its logger is at WARNING in the daemon): only
    # our own logs, and everything at INFO and above, must never show the token.
    ours = "\n".join(r.getMessage() for r in logs.records if r.name.startswith("edge_agent") or r.levelno >= 20)
    assert token.removeprefix("auth_tokens/") not in ours


def test_the_answer_is_json_not_cached_and_names_the_model(tls: Tls, secrets_file: Path) -> None:
    with token_stack(tls, secrets_file) as (rest, server):
        status, headers, body = post(server.url, tls, {"Authorization": f"Bearer {SECRET}"})
    assert status == 200
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == "application/json"
    assert set(body) == {"token", "expire_time", "new_session_expire_time", "model"}
    assert body["token"] in rest.minted
    assert body["model"] == MODEL
    assert body["expire_time"].endswith("Z")
    expire, new_session = _seconds(body["expire_time"]), _seconds(body["new_session_expire_time"])
    assert expire == rest.minted[body["token"]].expire_time
    assert new_session == rest.minted[body["token"]].new_session_expire_time


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-secret-0123456789", f"Basic {SECRET}", "Bearer", f"Bearer {SECRET}x"]
)
def test_a_missing_or_unknown_secret_gets_401_and_mints_nothing(
    tls: Tls, secrets_file: Path, authorization: str | None
) -> None:
    with token_stack(tls, secrets_file) as (rest, server):
        status, headers, body = post(server.url, tls, {"Authorization": authorization} if authorization else {})
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert headers["cache-control"] == "no-store"
    assert "error" in body
    assert rest.requests == []


def test_fetch_token_with_a_refused_secret_raises_a_clear_token_error(
    tls: Tls, secrets_file: Path, logs: pytest.LogCaptureFixture
) -> None:
    with token_stack(tls, secrets_file) as (_, server), pytest.raises(TokenError) as caught:
        run(fetch_token(server.url, "not-a-device-secret-0000", ssl_context=tls.client))
    assert caught.value.status == 401
    assert "the token server refused this device's secret" in str(caught.value)
    assert not caught.value.retryable
    assert "not-a-device-secret-0000" not in logs.text


def test_a_minting_failure_is_a_502_with_the_apis_message(
    tls: Tls, secrets_file: Path, logs: pytest.LogCaptureFixture
) -> None:
    wrong_key = "AIzaWrongKey-abcdefghijklmnop"
    with token_stack(tls, secrets_file, api_key=wrong_key) as (rest, server):
        status, headers, body = post(server.url, tls, {"Authorization": f"Bearer {SECRET}"})
        with pytest.raises(TokenError) as caught:
            run(fetch_token(server.url, SECRET, ssl_context=tls.client))
    assert status == 502
    assert headers["cache-control"] == "no-store"
    assert "API key not valid" in body["error"]
    assert "400" in body["error"]
    assert wrong_key not in body["error"]
    assert caught.value.status == 502
    assert "could not mint a token" in str(caught.value)
    assert "API key not valid" in str(caught.value)
    assert caught.value.retryable
    assert [r.status for r in rest.requests] == [400, 400]
    assert rest.minted == {}
    assert wrong_key not in logs.text
    assert SECRET not in logs.text


def test_more_than_the_rate_limit_gets_429_per_device(tls: Tls, secrets_file: Path) -> None:
    now = [1000.0]
    with token_stack(tls, secrets_file, rate_per_minute=2, clock=lambda: now[0]) as (rest, server):
        statuses = [post(server.url, tls, {"Authorization": f"Bearer {SECRET}"})[0] for _ in range(2)]
        status, headers, _ = post(server.url, tls, {"Authorization": f"Bearer {SECRET}"})
        with pytest.raises(TokenError) as caught:
            run(fetch_token(server.url, SECRET, ssl_context=tls.client))
        other = post(server.url, tls, {"Authorization": f"Bearer {OTHER_SECRET}"})[0]
        now[0] += 61
        later = post(server.url, tls, {"Authorization": f"Bearer {SECRET}"})[0]
    assert statuses == [200, 200]
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 61
    assert caught.value.status == 429
    assert caught.value.retryable
    assert "rate-limiting" in str(caught.value)
    assert (other, later) == (200, 200)
    assert len(rest.minted) == 4


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/token", 405), ("PUT", "/token", 405), ("POST", "/tokens", 404), ("GET", "/", 404)],
)
def test_other_methods_and_paths(tls: Tls, secrets_file: Path, method: str, path: str, status: int) -> None:
    with token_stack(tls, secrets_file) as (rest, server):
        url = server.url.removesuffix("/token") + path
        got, headers, _ = post(url, tls, {"Authorization": f"Bearer {SECRET}"}, method=method)
    assert got == status
    if status == 405:
        assert headers["allow"] == "POST"
    assert rest.requests == []


# ------------------------------------------------------------------ device secrets


def test_device_secrets_are_reloaded_when_the_file_changes(
    tmp_path: Path, secrets_file: Path, logs: pytest.LogCaptureFixture
) -> None:
    secrets = DeviceSecrets(secrets_file)
    assert len(secrets) == 2
    assert secrets.match(SECRET) == fingerprint(SECRET)
    assert secrets.match(OTHER_SECRET) == fingerprint(OTHER_SECRET)
    assert secrets.match("# kitchen speaker") is None
    assert secrets.match(SECRET[:-1]) is None
    new = "a-brand-new-device-secret-42424242"
    secrets_file.write_text(f"{new}\n")
    assert secrets.match(new) == fingerprint(new)
    assert secrets.match(SECRET) is None
    secrets_file.write_text("short\n")  # a broken edit keeps the previous set
    assert secrets.match(new) == fingerprint(new)
    assert "not reloaded" in logs.text
    assert new not in logs.text


@pytest.mark.parametrize("text", ["", "# nobody yet\n", "tooshort\n", "has a space in it 0123456789\n"])
def test_an_unusable_device_secrets_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "devices.txt"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        DeviceSecrets(path)
    assert caught.value.key == "--device-secrets"
    with pytest.raises(ConfigError):
        DeviceSecrets(tmp_path / "missing.txt")


# ------------------------------------------------------------------ the device side


def test_fetch_token_names_the_url_when_nothing_answers(tls: Tls) -> None:
    listener = socket.socket()  # a free port that nobody listens on
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    url = f"https://127.0.0.1:{port}/token"
    with pytest.raises(TokenError) as caught:
        run(fetch_token(url, SECRET, ssl_context=tls.client, timeout=5))
    assert caught.value.status is None
    assert caught.value.retryable
    assert url in str(caught.value)
    assert SECRET not in str(caught.value)


def test_fetch_token_refuses_plain_http_and_untrusted_certificates(tls: Tls, secrets_file: Path) -> None:
    for bad_url in ("http://127.0.0.1:1/token", "https://127.0.0.1:port/token", "https:///token"):
        with pytest.raises(TokenError, match="https://"):
            run(fetch_token(bad_url, SECRET))
    with pytest.raises(TokenError, match="printable ASCII"):
        run(fetch_token("https://127.0.0.1:1/token", "secret\r\nX-Injected: 1"))
    with token_stack(tls, secrets_file) as (rest, server), pytest.raises(TokenError) as caught:
        run(fetch_token(server.url, SECRET, ssl_context=ssl.create_default_context()))
    assert "not trusted" in str(caught.value)
    assert rest.requests == []


# ------------------------------------------------------------------ minting itself and the fake


def test_mint_token_always_asks_v1alpha_and_locks_the_model(tls: Tls) -> None:
    with FakeRestServer(api_key=LONG_KEY) as rest:
        client = genai.Client(
            api_key=LONG_KEY,
            http_options=types.HttpOptions(
                api_version="v1beta", base_url=rest.base_url, client_args={"verify": rest.client_ssl_context()}
            ),
        )
        token = mint_token(
            client, model=MODEL, config=None, uses=3, session_window_s=30, lifetime_s=600, lock_additional_fields=None
        )
        with pytest.raises(ValueError):
            mint_token(client, model=MODEL, config=None, session_window_s=120, lifetime_s=60)
        rest.fail_next = (503, "The service is currently unavailable.")
        with pytest.raises(TokenMintError) as caught:
            mint_token(client, model=MODEL, config=None)
    assert "MintedToken(expire_time=" in repr(token)
    assert token.name not in repr(token)
    assert token.expire_time - token.new_session_expire_time == timedelta(seconds=570)
    assert rest.requests[0].path == "/v1alpha/auth_tokens"
    assert rest.requests[0].body["bidiGenerateContentSetup"] == {"model": f"models/{MODEL}"}
    assert "fieldMask" not in rest.requests[0].body  # None: the whole setup is locked
    assert rest.minted[token.name].uses == 3
    assert caught.value.status == 503
    assert "currently unavailable" in str(caught.value)


def test_the_fake_counts_uses_and_closes_the_new_session_window() -> None:
    start = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    clock = [start]
    with FakeRestServer(now=lambda: clock[0]) as rest:
        client = upstream_client(rest.api_key, base_url=rest.base_url, ssl_context=rest.client_ssl_context())
        config = types.CreateAuthTokenConfig(
            uses=0, expire_time=start + timedelta(minutes=30), new_session_expire_time=start + timedelta(minutes=1)
        )
        name = client.auth_tokens.create(config=config).name
        assert name is not None
        assert rest.use_token(name) and rest.use_token(name)  # uses=0: unlimited
        clock[0] += timedelta(seconds=61)
        assert not rest.use_token(name)
        assert not rest.use_token("auth_tokens/never-minted")
        with pytest.raises(errors.ClientError) as late:  # expire_time must lie ahead
            client.auth_tokens.create(config=types.CreateAuthTokenConfig(expire_time=start))
        # Keep the Client referenced: a collected genai.Client closes its HTTP client mid-call.
        forger = upstream_client("forged", base_url=rest.base_url, ssl_context=rest.client_ssl_context())
        with pytest.raises(errors.ClientError) as forged:
            forger.auth_tokens.create()
    assert late.value.code == 400
    assert (forged.value.code, forged.value.status) == (400, "INVALID_ARGUMENT")
    assert forged.value.message == "API key not valid. Please pass a valid API key."
    assert [r.status for r in rest.requests] == [200, 400, 400]


# ------------------------------------------------------------------ the CLI entry point


def test_serve_runs_until_stopped(tls: Tls, secrets_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeRestServer(api_key=LONG_KEY) as rest:
        stop = threading.Event()
        result: list[int] = []
        kwargs: dict[str, Any] = dict(
            host="127.0.0.1",
            port=0,
            certfile=tls.certfile,
            keyfile=tls.keyfile,
            device_secrets=secrets_file,
            api_key=LONG_KEY,
            model=MODEL,
            config=CONFIG,
            base_url=rest.base_url,
            upstream_ssl_context=rest.client_ssl_context(),
            stop=stop,
        )
        thread = threading.Thread(target=lambda: result.append(serve(**kwargs)))
        thread.start()
        try:
            url = _wait_for_url(capsys)
            token = run(fetch_token(url, SECRET, ssl_context=tls.client))
        finally:
            stop.set()
            thread.join(10)
    assert result == [0]
    assert token in rest.minted
    with pytest.raises(ConfigError):
        serve(**(kwargs | {"keyfile": tls.certfile, "stop": threading.Event()}))


def _wait_for_url(capsys: pytest.CaptureFixture[str]) -> str:
    async def poll() -> str:
        seen = ""
        while "https://" not in seen:
            seen += capsys.readouterr().out
            await asyncio.sleep(0.02)
        return seen.split()[3]

    return run(poll())
