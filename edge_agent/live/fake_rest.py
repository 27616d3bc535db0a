"""A fake of the Gemini API's ``auth_tokens`` REST endpoint, for ephemeral-token tests.

google-genai's ``client.auth_tokens.create`` sends ``POST {base_url}/v1alpha/auth_tokens`` with
the API key in ``x-goog-api-key`` and a JSON body such as::

    {"expireTime": "2026-01-01T12:30:00+00:00", "newSessionExpireTime": "2026-01-01T12:01:00+00:00",
     "uses": 1, "bidiGenerateContentSetup": {"model": "models/<id>", "generationConfig": {...}, ...}}

(``fieldMask`` too when ``lock_additional_fields`` is set) and reads ``name`` from the answer.
:class:`FakeRestServer` answers that over HTTPS on loopback (a throwaway ``trustme`` CA, like
:class:`~edge_agent.live.fake_server.FakeLiveServer`), records every request
(:attr:`FakeRestServer.requests`, credentials redacted) and mints ``auth_tokens/<random>``.
Pass :meth:`FakeRestServer.use_token` as the fake Live server's ``token_check`` so that a
minted token opens ``BidiGenerateContentConstrained`` connections until its uses run out or
its ``newSessionExpireTime`` passes, as the real service does.

It is a separate server because the fake Live server speaks only WebSocket; give the minting
client this server's :attr:`~FakeRestServer.base_url` and the device the Live server's.

Thread: the HTTP server runs in its own threads; :meth:`use_token` and the recorded lists
are safe to use from any thread (one lock).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import trustme

from edge_agent.live.serving import ServingThread

__all__ = ["FakeRestServer", "MintedRecord", "RestRequest"]

_LOGGER = logging.getLogger(__name__)

_PATH = "/v1alpha/auth_tokens"
_FIELDS = frozenset({"expireTime", "newSessionExpireTime", "uses", "bidiGenerateContentSetup", "fieldMask"})
"""Request body fields the service knows; any other is a 400, as proto JSON parsing does."""
_MAX_AHEAD = timedelta(hours=20)
KEY_INVALID = (HTTPStatus.BAD_REQUEST, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
UNREGISTERED = (
    HTTPStatus.FORBIDDEN,
    "PERMISSION_DENIED",
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API.",
)


@dataclass(frozen=True)
class RestRequest:
    """One request the fake REST server received (any path, any outcome)."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names; ``x-goog-api-key`` and ``authorization`` replaced by ``<redacted>``."""
    body: Any
    """The parsed JSON body (None if empty or not JSON)."""
    status: int
    """The HTTP status the fake answered with."""


@dataclass
class MintedRecord:
    """A token the fake minted, and how it has been used."""

    name: str
    expire_time: datetime
    new_session_expire_time: datetime
    uses: int
    """Uses granted; 0 = unlimited."""
    setup: dict[str, Any] | None
    """The ``bidiGenerateContentSetup`` (locked model and config) it was minted with."""
    used: int = 0
    """Connections accepted with it so far."""
    refused: int = 0
    """Connections refused because its uses ran out or its new-session window closed."""


class FakeRestServer:
    """HTTPS on loopback answering ``POST /v1alpha/auth_tokens`` like the Gemini API.

    ``api_key``: the key a caller must send. ``now``: the clock the expiry checks use
    (UTC-aware datetimes), so tests can move time. :attr:`fail_next` makes the next mint
    request fail with the given ``(status, message)``.
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-api-key",
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.api_key = api_key
        self.requests: list[RestRequest] = []
        self.minted: dict[str, MintedRecord] = {}
        """Minted tokens by name (the name is the token, as with the real service)."""
        self.fail_next: tuple[int, str] | None = None
        """``(HTTP status, message)`` for the next authenticated mint request to fail with; then cleared."""
        self._now = now or (lambda: datetime.now(UTC))
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._ca: trustme.CA | None = None
        self._serving: ServingThread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Make a throwaway CA, bind, serve in a background thread. Returns once bound. Idempotent.

        Thread: any; blocks only to bind.
        """
        if self._serving is not None:
            return
        self._ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        httpd = _Httpd((self._host, self._port), _handler(self))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._port = httpd.server_address[1]
        self._serving = ServingThread(httpd, name="fake-rest", poll_interval=0.05)
        _LOGGER.info("= fake REST server on %s", self.base_url)

    def close(self) -> None:
        """Stop serving and release the port. Blocks up to one poll interval (50 ms). Idempotent."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> FakeRestServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ how to reach it

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``: the minting client's ``http_options.base_url``."""
        return f"https://{self._host}:{self._port}"

    @property
    def ca_pem(self) -> bytes:
        """PEM of the throwaway CA that signed the server certificate (after :meth:`start`)."""
        if self._ca is None:
            raise RuntimeError("FakeRestServer.start() has not been called")
        return bytes(self._ca.cert_pem.bytes())

    def client_ssl_context(self) -> ssl.SSLContext:
        """Return a client TLS context trusting only this server's CA."""
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))

    # ------------------------------------------------------------ tokens

    def use_token(self, token: str) -> bool:
        """Count one Live connection with ``token``; True if it is accepted.

        False for a token this server never minted, one whose uses are spent, or one whose
        ``newSessionExpireTime`` has passed. Thread: any; never blocks beyond a short lock.
        """
        with self._lock:
            record = self.minted.get(token)
            if record is None:
                return False
            now = self._now()
            if (record.uses and record.used >= record.uses) or now >= record.new_session_expire_time:
                record.refused += 1
                return False
            record.used += 1
            return True

    # ------------------------------------------------------------ one request (handler threads)

    def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """Decide the answer to one request; records it. Thread: a handler thread."""
        body: Any = None
        with contextlib.suppress(ValueError):  # not JSON: body stays None, _decide answers 400
            body = json.loads(raw) if raw else None
        status, answer = self._decide(method, path, headers, raw, body)
        redacted = {k: "<redacted>" if k in ("x-goog-api-key", "authorization") else v for k, v in headers.items()}
        with self._lock:
            self.requests.append(RestRequest(method, path, redacted, body, status))
        return status, answer

    def _decide(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, body: Any
    ) -> tuple[int, dict[str, Any]]:
        if path.partition("?")[0] != _PATH:
            return _error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Method not found: {path}")
        if method != "POST":
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "INVALID_ARGUMENT", f"{method} is not allowed on {_PATH}")
        key = headers.get("x-goog-api-key")
        if key is None:
            return _error(*UNREGISTERED)
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return _error(*KEY_INVALID)
        with self._lock:
            failure, self.fail_next = self.fail_next, None
        if failure is not None:
            return _error(failure[0], HTTPStatus(failure[0]).name, failure[1])
        if raw and not isinstance(body, dict):
            return _error(HTTPStatus.BAD_REQUEST, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        body = body or {}
        if unknown := sorted(set(body) - _FIELDS):
            return _error(
                HTTPStatus.BAD_REQUEST,
                "INVALID_ARGUMENT",
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.',
            )
        try:
            record = self._mint(body)
        except ValueError as e:
            return _error(HTTPStatus.BAD_REQUEST, "INVALID_ARGUMENT", str(e))
        # The service's AuthToken fields other than name are input only; it answers the name.
        return HTTPStatus.OK, {"name": record.name}

    def _mint(self, body: dict[str, Any]) -> MintedRecord:
        now = self._now()
        expire = _time(body, "expireTime", now, now + timedelta(minutes=30))
        new_session = _time(body, "newSessionExpireTime", now, now + timedelta(seconds=60))
        uses = body.get("uses", 1)
        if not isinstance(uses, int) or isinstance(uses, bool) or uses < 0:
            raise ValueError(f"Invalid value at 'uses' (TYPE_INT32), {uses!r}")
        setup = body.get("bidiGenerateContentSetup")
        if setup is not None and (not isinstance(setup, dict) or not str(setup.get("model", "")).startswith("models/")):
            raise ValueError("bidiGenerateContentSetup.model must name a model as models/<id>")
        record = MintedRecord(f"auth_tokens/{secrets.token_hex(16)}", expire, new_session, uses, setup)
        with self._lock:
            self.minted[record.name] = record
        return record


def _time(body: dict[str, Any], name: str, now: datetime, default: datetime) -> datetime:
    """Parse an RFC 3339 timestamp field; must lie in the future and less than 20 h ahead."""
    value = body.get(name)
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as e:
        raise ValueError(f"Invalid value at '{name}' (type.googleapis.com/google.protobuf.Timestamp)") from e
    if parsed.tzinfo is None:
        raise ValueError(f"Invalid value at '{name}': a timestamp needs a UTC offset or Z")
    if not now < parsed < now + _MAX_AHEAD:
        raise ValueError(f"{name} must be in the future and less than 20 hours ahead")
    return parsed


def _error(status: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    """A Google API error body: ``{"error": {"code", "message", "status"}}``."""
    return status, {"error": {"code": int(status), "message": message, "status": reason}}


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's, which resolves the host name (DNS)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


def _handler(server: FakeRestServer) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class bound to ``server``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "edge-agent-fake-rest"
        sys_version = ""
        timeout = 10  # seconds a stalled client may hold its handler thread

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(min(length, 1 << 20)) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer = server._answer(self.command, self.path, headers, raw)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            _LOGGER.debug("= fake REST: " + format, *args)

    return Handler
