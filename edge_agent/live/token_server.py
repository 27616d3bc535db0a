"""The ephemeral-token server (``edge-agent token-server``): devices trade a device secret for a Live token.

A fleet's long-lived Gemini API key stays on this server. A device sends
``POST /token`` with ``Authorization: Bearer <device secret>`` over HTTPS and gets::

    {"token": "auth_tokens/...", "expire_time": "2026-01-01T12:30:00Z",
     "new_session_expire_time": "2026-01-01T12:01:00Z", "model": "<model id>"}

(``Cache-Control: no-store``). Each token is minted with the real SDK's
``client.auth_tokens.create`` (``POST {base_url}/v1alpha/auth_tokens``): one use, new sessions
only within ``session_window_s`` (60 s), sessions end after ``lifetime_s`` (30 min), and the
model and every field the configured ``LiveConnectConfig`` sets are locked
(``live_connect_constraints`` + ``fieldMask``), so a stolen token cannot open a session with
another model or instructions; the device still sends its own session-resumption handle.

Answers: 401 (missing or unknown secret), 429 with ``Retry-After`` (more than
``rate_per_minute`` tokens for one device in a minute), 502 (minting failed; the body says
why), 404 (other paths), 405 (other methods).
Each mint is logged with the device secret's fingerprint (:func:`fingerprint`) and the
client address; the secret, the token and the API key are never logged.

The device-secrets file (:class:`DeviceSecrets`), :func:`fingerprint` and the per-device rate
limiter live in :mod:`edge_agent.live.token_auth`; the first two are re-exported here.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import socketserver
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from edge_agent.errors import EX_OK, ConfigError, EdgeAgentError
from edge_agent.live.serving import ServingThread
from edge_agent.live.token_auth import MIN_SECRET_LENGTH, DeviceSecrets, RateLimiter, fingerprint

__all__ = [
    "MIN_SECRET_LENGTH",
    "DeviceSecrets",
    "MintedToken",
    "TokenMintError",
    "TokenServer",
    "fingerprint",
    "mint_token",
    "serve",
    "upstream_client",
]

_LOGGER = logging.getLogger(__name__)

_IO_TIMEOUT_S = 10.0
"""Seconds a client may stall the TLS handshake or the request before its thread gives up."""


class TokenMintError(EdgeAgentError):
    """The Gemini API did not mint a token (``status``: its HTTP status, None if not reached).

    The message is safe to show a device and to log.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class MintedToken:
    """A minted ephemeral token (``repr`` never shows ``name``, the token itself).

    ``name``: ``auth_tokens/...``, a device's ``genai.Client(api_key=...)``. ``expire_time``:
    sessions opened with it end then. ``new_session_expire_time``: no new session after it.
    ``model``: the model it is locked to. Times are UTC.
    """

    name: str = field(repr=False)
    expire_time: datetime
    new_session_expire_time: datetime
    model: str


def upstream_client(
    api_key: str, *, base_url: str | None = None, ssl_context: ssl.SSLContext | None = None
) -> genai.Client:
    """Return a ``v1alpha`` client for :func:`mint_token`; ``base_url``/``ssl_context`` for a fake."""
    return genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(
            api_version="v1alpha",
            base_url=base_url,
            client_args={"verify": ssl_context} if ssl_context is not None else None,
        ),
    )


def mint_token(
    client: genai.Client,
    *,
    model: str,
    config: types.LiveConnectConfig | None,
    uses: int = 1,
    session_window_s: float = 60,
    lifetime_s: float = 1800,
    lock_additional_fields: Sequence[str] | None = (),
    timeout_s: float = 10,
) -> MintedToken:
    """Mint one ephemeral token locked to ``model`` and ``config``, on ``v1alpha``.

    Blocking: one HTTPS round trip of at most ``timeout_s``, no retries. Thread: any (the SDK's
    sync HTTP client is thread-safe). ``uses``: sessions it may open (0 = unlimited; resuming
    does not count); new sessions until ``session_window_s`` from now, sessions end at
    ``lifetime_s`` (< 20 h). ``lock_additional_fields`` (the SDK's): ``()`` locks the model and
    every field ``config`` sets, and leaves the others to the device, e.g. its
    ``sessionResumption`` handle; a list locks those fields too; None locks the whole setup,
    which per the SDK's docs makes the service ignore anything the device sends (resumption
    included). Raises ValueError for impossible arguments, TokenMintError when the API refuses
    or cannot be reached (its message never contains the API key).
    """
    if uses < 0 or not 0 < session_window_s <= lifetime_s < 20 * 3600:
        raise ValueError("need uses >= 0 and 0 < session_window_s <= lifetime_s < 20 h")
    now = datetime.now(UTC).replace(microsecond=0)
    expire = now + timedelta(seconds=lifetime_s)
    new_session = now + timedelta(seconds=session_window_s)
    request = types.CreateAuthTokenConfig(
        http_options=types.HttpOptions(api_version="v1alpha", timeout=round(timeout_s * 1000)),
        uses=uses,
        expire_time=expire,
        new_session_expire_time=new_session,
        live_connect_constraints=types.LiveConnectConstraints(model=model, config=config),
        lock_additional_fields=None if lock_additional_fields is None else list(lock_additional_fields),
    )
    try:
        token = client.auth_tokens.create(config=request)
    except genai_errors.APIError as e:
        raise TokenMintError(f"the Gemini API refused to mint a token: {e.code} {e.status}: {e.message}", e.code) from e
    except Exception as e:  # transport (httpx or httpx2, per SDK version), TLS, DNS: the device gets a 502
        raise TokenMintError(f"cannot reach the Gemini API to mint a token: {type(e).__name__}: {e}") from e
    if not token.name or not token.name.startswith("auth_tokens/"):
        raise TokenMintError("the Gemini API answered without a token name")
    return MintedToken(token.name, expire, new_session, model)


class TokenServer:
    """HTTPS ``POST /token`` in front of a blocking ``mint`` (run in each request's thread).

    ``tls``: a server context with the certificate loaded; ``clock``: monotonic seconds for
    the rate limits. Construct anywhere; :meth:`start` binds, :meth:`close` stops. Thread: any.
    """

    def __init__(
        self,
        mint: Callable[[], MintedToken],
        device_secrets: DeviceSecrets,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_per_minute: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mint = mint
        self.device_secrets = device_secrets
        self._tls = tls
        self._address = (host, port)
        self._per_device = RateLimiter(rate_per_minute, 60.0, clock)
        self._serving: ServingThread | None = None

    def start(self) -> None:
        """Bind and serve in a background thread; returns once bound. Raises OSError. Idempotent."""
        if self._serving is not None:
            return
        httpd = _Httpd(self._address, self._tls, self)
        self._address = (str(httpd.server_address[0]), int(httpd.server_address[1]))
        self._serving = ServingThread(httpd, name="token-server", poll_interval=0.1)
        _LOGGER.info("token server on %s (%d device secrets)", self.url, len(self.device_secrets))

    def close(self) -> None:
        """Stop accepting, release the port. Blocks ≤ 0.1 s; in-flight requests finish in their threads."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> TokenServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """``https://HOST:PORT/token`` (the real port once started): the devices' ``live.token_url``."""
        host, port = self._address
        host = f"[{host}]" if ":" in str(host) else str(host)
        return f"https://{host}:{port}/token"

    def answer(self, client: str, authorization: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Return status, JSON body and extra headers for a ``POST /token``. Thread: any; blocks to mint."""
        scheme, _, secret = (authorization or "").partition(" ")
        device = self.device_secrets.match(secret.strip()) if scheme.lower() == "bearer" else None
        if device is None:
            _LOGGER.warning("refused %s: %s device secret", client, "unknown" if secret else "no")
            headers = {"WWW-Authenticate": 'Bearer realm="edge-agent-token"'}
            return HTTPStatus.UNAUTHORIZED, {"error": "unknown or missing device secret"}, headers
        if wait := self._per_device.wait_s(device):
            _LOGGER.warning("refused device %s (%s): rate limit", device, client)
            retry = {"Retry-After": str(max(1, round(wait + 0.5)))}
            return HTTPStatus.TOO_MANY_REQUESTS, {"error": "too many tokens for this device; retry later"}, retry
        try:
            token = self.mint()
        except TokenMintError as e:
            _LOGGER.error("minting for device %s (%s) failed: %s", device, client, e)
            return HTTPStatus.BAD_GATEWAY, {"error": str(e)}, {}
        times = {
            "expire_time": _rfc3339(token.expire_time),
            "new_session_expire_time": _rfc3339(token.new_session_expire_time),
        }
        _LOGGER.info("minted a token for device %s (%s), %s", device, client, times)
        return HTTPStatus.OK, {"token": token.name, **times, "model": token.model}, {}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Httpd(ThreadingHTTPServer):
    """Threaded HTTP server doing the TLS handshake in each request's thread, not in accept()."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext, app: TokenServer) -> None:
        self.tls, self.app = tls, app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn): a DNS wait for nothing.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        sock.settimeout(_IO_TIMEOUT_S)
        try:
            tls_sock = self.tls.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            _LOGGER.debug("TLS handshake with %s failed: %s", client_address[0], e)
            return
        with tls_sock:
            _Handler(tls_sock, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _LOGGER.error("token server: request from %s failed", client_address[0], exc_info=True)  # not stderr


class _Handler(BaseHTTPRequestHandler):
    server_version = "edge-agent-token-server"
    sys_version = ""
    timeout = _IO_TIMEOUT_S
    server: _Httpd

    def do_POST(self) -> None:
        """Serve ``POST /token``."""
        length = self.headers.get("Content-Length") or "0"
        if self.path.partition("?")[0] != "/token":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
        elif not length.isdigit() or int(length) > 16 * 1024:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request body too large or malformed"})
        else:
            self.rfile.read(int(length))  # the body is not used
            self._reply(*self.server.app.answer(self.client_address[0], self.headers.get("Authorization")))

    def _other(self) -> None:
        if self.path.partition("?")[0] != "/token":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
        else:
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use POST"}, {"Allow": "POST"})

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        _LOGGER.debug("token server: " + format, *args)  # the request line only: no headers


def serve(
    *,
    host: str,
    port: int,
    certfile: Path,
    keyfile: Path,
    device_secrets: Path,
    api_key: str,
    model: str,
    config: types.LiveConnectConfig | None,
    base_url: str | None = None,
    upstream_ssl_context: ssl.SSLContext | None = None,
    rate_per_minute: int = 30,
    stop: threading.Event | None = None,
) -> int:
    """Run the token server in the foreground until SIGTERM/SIGINT (or ``stop`` is set); return 0.

    The ``edge-agent token-server`` entry point. Thread: the main thread when ``stop`` is None
    (it installs SIGTERM/SIGINT handlers for the duration). Ignores the SDK's
    ExperimentalWarning for token creation (process-wide). Raises ConfigError (exit 78) for an
    unusable certificate, key or device-secrets file, OSError if the address cannot be bound.
    """
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        tls.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(str(certfile), "--cert/--key", "a PEM certificate (chain) and its private key", str(e)) from e
    secrets = DeviceSecrets(device_secrets)
    warnings.filterwarnings("ignore", "The SDK's token creation", genai_errors.ExperimentalWarning)
    client = upstream_client(api_key, base_url=base_url, ssl_context=upstream_ssl_context)

    def mint() -> MintedToken:
        return mint_token(client, model=model, config=config)

    event = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if stop is None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: event.set())
    try:
        with TokenServer(mint, secrets, tls, host=host, port=port, rate_per_minute=rate_per_minute) as server:
            print(f"token server on {server.url} (model {model})", flush=True)
            while not event.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _LOGGER.info("token server stopped")
    return EX_OK
