"""A fake Gemini Live API server: the real ``BidiGenerateContent`` wire protocol over TLS on loopback.

Not a mock of the SDK: google-genai's own client (or any WebSocket client) connects to it
as it would to ``generativelanguage.googleapis.com``. The SDK always dials ``wss://``, so
the server makes a throwaway CA at :meth:`FakeLiveServer.start`; give the client
:meth:`FakeLiveServer.client_ssl_context` (or the file from :meth:`FakeLiveServer.write_ca`
as ``SSL_CERT_FILE``). What the server says is a :class:`~edge_agent.live.fake_script.Script`;
what it hears is recorded (:attr:`FakeLiveServer.messages`) for tests to assert on.

The protocol facts it follows, with sources, are in ``docs/live-protocol.md``.

Thread: everything runs on the event loop that called :meth:`FakeLiveServer.start`;
nothing here is thread-safe. Typical use::

    async with FakeLiveServer(script=load_script("echo")) as server:
        client = genai.Client(api_key=server.api_key, http_options=types.HttpOptions(
            base_url=server.base_url, api_version="v1beta",
            async_client_args={"ssl": server.client_ssl_context()}))
        ...
        await server.wait_script_done(timeout=10)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Collection, Sequence
from http import HTTPStatus
from types import TracebackType
from urllib.parse import parse_qs

import trustme
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from edge_agent.live.fake_record import (
    ConnectionRecord,
    SentMessage,
    record_close,
    redact_headers,
    redact_path,
    summarise,
    write_record,
)
from edge_agent.live.fake_runner import ScriptRunner
from edge_agent.live.fake_steps import Script
from edge_agent.live.fake_wire import ClientMessage, JsonDict, field, parse_client_message, truncate_reason

__all__ = ["KEY_INVALID", "UNREGISTERED", "ConnectionRecord", "FakeLiveServer", "SentMessage"]

_LOGGER = logging.getLogger(__name__)

_PATH = re.compile(
    r"^/{1,2}ws/google\.ai\.generativelanguage\.(?P<version>v1|v1beta|v1alpha)"
    r"\.GenerativeService\.(?P<method>BidiGenerateContent(?:Constrained)?)$"
)
"""Accepted paths; a doubled leading slash is what the JS SDK sends."""
KEY_INVALID = (1007, "API key not valid. Please pass a valid API key.")
"""Close code and reason for a wrong API key."""
UNREGISTERED = (
    1008,
    truncate_reason(
        "Method doesn't allow unregistered callers (callers without established identity)."
        " Please use API Key or other form of API consumer identity to call this API."
    ),
)
"""Close code and reason (cut to 123 bytes) for no usable credential."""


class FakeLiveServer:
    """A Live API WebSocket server on loopback that follows a script and records what it hears.

    Construct anywhere; call :meth:`start` (or ``async with``) on the event loop that will
    run it. ``models``: if given, a setup naming another model is closed with 1008.
    ``ephemeral_tokens``: tokens accepted as ``Authorization: Token <t>`` (or
    ``?access_token=``) on the ``BidiGenerateContentConstrained`` method only.
    ``token_check``: asked about any other such token; True accepts it (e.g.
    :meth:`edge_agent.live.fake_rest.FakeRestServer.use_token`, which counts uses). Called on
    the event loop, so it must not block.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        api_key: str = "fake-api-key",
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] | None = None,
        ephemeral_tokens: Collection[str] | None = None,
        token_check: Callable[[str], bool] | None = None,
    ) -> None:
        self.script = script
        self.api_key = api_key
        self.connections: list[ConnectionRecord] = []
        """One record per accepted WebSocket (HTTP 101), in order."""
        self.messages: list[ClientMessage] = []
        """Every client message on every connection, in arrival order (kept in memory:
        about 150 MB per hour of streamed 16 kHz audio)."""
        self.sent: list[SentMessage] = []
        """Every message the server sent, in order."""
        self.credentials: list[dict[str, str]] = []
        """Per connection (same index as :attr:`connections`), the credentials it presented, unredacted:
        ``authorization`` and ``x-goog-api-key`` headers, ``key`` and ``access_token`` parameters
        (only those present). For tests; kept in memory and never saved by :meth:`save_record`."""
        self.script_done = asyncio.Event()
        """Set when the script has run all its steps (at start if there is no script)."""
        self._host = host
        self._port = port
        self._models = None if models is None else {_model_name(m) for m in models}
        self._tokens = frozenset(ephemeral_tokens or ())
        self._token_check = token_check
        self._ca: trustme.CA | None = None
        self._server: Server | None = None
        self._start_lock = asyncio.Lock()
        self._open: dict[int, ServerConnection] = {}
        self._news = asyncio.Event()
        self._runner = ScriptRunner(self, script or Script(steps=()))
        self._runner_task: asyncio.Task[None] | None = None
        self._t0 = time.monotonic()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Make a throwaway CA and a certificate for 127.0.0.1/localhost, bind, serve, run the script.

        Thread: the event loop. Returns once the socket is bound. Idempotent.
        """
        async with self._start_lock:
            if self._server is not None:
                return
            self._ca = trustme.CA()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
            self._server = await serve(
                self._handle,
                self._host,
                self._port,
                ssl=context,
                process_request=_check_path,
                server_header="edge-agent-fake-live",
                ping_interval=None,  # the client pings (20 s); the fake never drops a quiet client
                max_size=None,  # the service's limit is not documented; don't invent one
            )
            self._port = self._server.sockets[0].getsockname()[1]
            self._t0 = time.monotonic()
            self._runner_task = asyncio.create_task(self._runner.run(), name="fake-live-script")
            self._runner_task.add_done_callback(self._runner_finished)
            _LOGGER.info("= fake Live server on %s", self.base_url)

    async def close(self) -> None:
        """Stop the script, close open connections with 1001 (going away), stop serving.

        Thread: the event loop. Returns when every connection handler has finished. Idempotent.
        """
        if self._runner_task is not None:
            self._runner_task.cancel()
            await asyncio.wait([self._runner_task])
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeLiveServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ how to reach it

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``: the SDK's ``http_options.base_url`` (it dials ``wss://``)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{self._port}"

    @property
    def ca_pem(self) -> bytes:
        """PEM of the throwaway CA that signed the server certificate (after :meth:`start`)."""
        return self._require_ca().cert_pem.bytes()

    def write_ca(self, path: str | os.PathLike[str]) -> None:
        """Write :attr:`ca_pem` to ``path`` (usable as ``SSL_CERT_FILE``). Blocking file I/O."""
        with open(path, "wb") as f:
            f.write(self.ca_pem)

    def client_ssl_context(self) -> ssl.SSLContext:
        """Return a client TLS context trusting only this server's CA (for ``async_client_args``)."""
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))

    def _require_ca(self) -> trustme.CA:
        if self._ca is None:
            raise RuntimeError("FakeLiveServer.start() has not been called")
        return self._ca

    # ------------------------------------------------------------ what it heard

    def audio_received(self, connection: int | None = None) -> bytes:
        """Return all client realtime audio (16-bit LE PCM), decoded and concatenated in arrival order."""
        return b"".join(m.pcm() for m in self.messages if connection is None or m.connection == connection)

    def tool_responses(self) -> list[JsonDict]:
        """Return every ``functionResponse`` received, as ``{"id", "name", "response"}``."""
        return [
            {"id": field(r, "id"), "name": field(r, "name"), "response": field(r, "response")}
            for m in self.messages
            if m.kind == "toolResponse"
            for r in field(m.payload, "functionResponses") or []
        ]

    async def drop_connections(self) -> int:
        """Test verb: abort every open connection with no close frame (the client sees 1006).

        Returns how many were dropped. Like a network failure, unsent data is thrown away.
        """
        dropped = 0
        for index, ws in list(self._open.items()):
            self.connections[index].dropped = True
            ws.transport.abort()
            dropped += 1
        return dropped

    # ASYNC109: the timeout is part of the contract (its value goes into the error message).
    async def wait_script_done(self, timeout: float) -> None:  # noqa: ASYNC109
        """Return when the script has run all its steps.

        Raises TimeoutError naming the step it is stuck on, or RuntimeError if it failed.
        """
        if self._runner_task is None:
            raise RuntimeError("FakeLiveServer.start() has not been called")
        done = asyncio.create_task(self.script_done.wait())
        try:
            await asyncio.wait([done, self._runner_task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
        if self.script_done.is_set():
            return
        task = self._runner_task
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            raise RuntimeError(f"fake Live script failed at {self._runner.status}: {error!r}") from error
        raise TimeoutError(f"fake Live script not done after {timeout:g} s: {self._runner.status}")

    def save_record(self, path: str | os.PathLike[str]) -> None:
        """Write connections, then client and server messages in time order, as JSON lines.

        Times are seconds since :meth:`start`; base64 ``data`` becomes ``dataBytes`` (its size).
        Blocking file I/O.
        """
        write_record(path, self.connections, self.messages, self.sent, self._t0)

    # ------------------------------------------------------------ one connection

    async def _handle(self, ws: ServerConnection) -> None:
        """Serve one WebSocket after the HTTP 101. Runs in its own task until the connection closes."""
        assert ws.request is not None  # the handshake has completed
        path, _, query = ws.request.path.partition("?")  # not urlsplit: "//ws/…" is no netloc
        match = _PATH.match(path)
        assert match is not None  # _check_path rejected the others with 404
        record = ConnectionRecord(
            index=len(self.connections),
            path=redact_path(ws.request.path),
            headers=redact_headers(ws.request.headers),
            api_version=match["version"],
            method=match["method"],
            opened_t=time.monotonic(),
        )
        self.connections.append(record)
        self.credentials.append(_credentials(ws.request.headers, parse_qs(query)))
        _LOGGER.info("= connection %d opened: %s", record.index, record.path)
        try:
            await self._converse(ws, record, ws.request.headers, parse_qs(query))
        except ConnectionClosed:
            pass  # the normal end of a connection: the close is recorded below
        finally:
            self._open.pop(record.index, None)
            record_close(ws, record)
            _LOGGER.info("= connection %d closed: %s %r", record.index, record.close_code, record.close_reason)

    async def _converse(
        self, ws: ServerConnection, record: ConnectionRecord, headers: Headers, query: dict[str, list[str]]
    ) -> None:
        # Credentials are checked after the upgrade, once the first message is in, so the
        # SDK's setup send cannot race the close frame (live-protocol.md §1).
        first = await self._receive(ws, record)
        if first is None:
            return
        if first.kind == "setup":
            record.setup = first.payload
        rejection = self._authenticate(record.method, headers, query) or self._check_setup(first, record)
        if rejection is not None:
            self._append(first)
            await ws.close(*rejection)
            return
        await self._send(ws, record.index, {"setupComplete": {}})
        record.accepted = True
        self._open[record.index] = ws
        self._append(first)
        while (message := await self._receive(ws, record)) is not None:
            self._append(message)

    async def _receive(self, ws: ServerConnection, record: ConnectionRecord) -> ClientMessage | None:
        """Return the next valid client message; close 1007 and return None on an invalid one."""
        raw = await ws.recv()
        try:
            return parse_client_message(raw, record.index)
        except ValueError as e:
            await ws.close(1007, truncate_reason(str(e)))
            return None

    def _authenticate(self, method: str, headers: Headers, query: dict[str, list[str]]) -> tuple[int, str] | None:
        authorization = headers.get("authorization", "") or ""
        token = authorization[6:] if authorization.startswith("Token ") else _param(query, "access_token")
        key = headers.get("x-goog-api-key") or _param(query, "key")
        if method.endswith("Constrained") and token is not None:
            accepted = token in self._tokens or (self._token_check is not None and self._token_check(token))
            return None if accepted else UNREGISTERED
        if key is not None:
            return None if key == self.api_key else KEY_INVALID
        return UNREGISTERED

    def _check_setup(self, first: ClientMessage, record: ConnectionRecord) -> tuple[int, str] | None:
        if first.kind != "setup":
            return 1007, f"Invalid JSON payload received. The first message must be setup, not {first.kind}."
        model = _model_name(str(field(first.payload, "model", "")))
        if self._models is not None and model not in self._models:
            return 1008, truncate_reason(
                f"{model} is not found for API version {record.api_version},"
                " or is not supported for bidiGenerateContent."
            )
        return None

    def _append(self, message: ClientMessage) -> None:
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("< %d %s %s", message.connection, message.kind, message.sub or "")
        self.messages.append(message)
        self._news.set()

    async def _send(self, ws: ServerConnection, connection: int, payload: JsonDict) -> None:
        """Send one server message as a binary frame of UTF-8 JSON, as the service does."""
        await ws.send(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        self.sent.append(SentMessage(connection, time.monotonic(), summarise(payload)))
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("> %d %s", connection, ",".join(payload))

    # ------------------------------------------------------------ for the script runner

    async def _newest(self) -> tuple[int, ServerConnection]:
        """Return the newest accepted, still open connection, waiting for one if there is none."""
        while not self._open:
            self._news.clear()
            await self._news.wait()
        index = max(self._open)
        return index, self._open[index]

    async def _wait_news(self) -> None:
        """Wait until a client message arrives or a connection is accepted (single waiter)."""
        self._news.clear()
        await self._news.wait()

    def _runner_finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.error("fake Live script failed at %s", self._runner.status, exc_info=error)


# ---------------------------------------------------------------- helpers


def _check_path(connection: ServerConnection, request: Request) -> Response | None:
    """Reject the upgrade with 404 unless the path names the BidiGenerateContent method."""
    if _PATH.match(request.path.partition("?")[0]) is None:
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
    return None


def _model_name(model: str) -> str:
    return model if model.startswith("models/") else f"models/{model}"


def _credentials(headers: Headers, query: dict[str, list[str]]) -> dict[str, str]:
    found = {name: headers.get(name) for name in ("authorization", "x-goog-api-key")}
    found |= {name: _param(query, name) for name in ("key", "access_token")}
    return {name: value for name, value in found.items() if value is not None}


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None
