"""The device side of ephemeral tokens: fetch a short-lived Live token from the owner's token server.

With ``live.auth = "ephemeral"`` the daemon calls :func:`fetch_token` before each connection
and connects with the token (``genai.Client(api_key=token, http_options=HttpOptions(
api_version="v1alpha", ...))``); the long-lived API key never sits on the device. The token
server is ``edge-agent token-server`` (:mod:`edge_agent.live.token_server`).

Plain stdlib (``http.client``) in a daemon thread: no HTTP client library beyond what
Python ships, and a cancelled fetch never holds up the event loop's shutdown. The device
secret and the token are never logged and never appear in an exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from edge_agent.errors import EdgeAgentError

__all__ = ["TokenError", "fetch_token"]

_LOGGER = logging.getLogger(__name__)

_MAX_BODY = 64 * 1024


class TokenError(EdgeAgentError):
    """No token from the token server. ``status``: its HTTP status, None if it was not reached.

    :attr:`retryable` says whether trying again later can help (network trouble, 429, 5xx) or
    whether a human must fix something (a refused secret, a wrong URL).
    """

    def __init__(self, message: str, status: int | None) -> None:
        self.status = status
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """True when a later attempt may succeed without a configuration change."""
        return self.status is None or self.status == 429 or self.status >= 500


async def fetch_token(
    url: str,
    device_secret: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 10,  # noqa: ASYNC109 - it also bounds the socket operations in the thread
) -> str:
    """``POST url`` with ``Authorization: Bearer <device_secret>``; return the ``auth_tokens/...`` token.

    ``url`` must be ``https://`` (the secret is never sent in the clear). ``ssl_context``:
    what to trust (default: the system store). ``timeout``: seconds for the whole exchange.
    Redirects are not followed and proxy variables are not used. Thread: event loop; the
    request runs in a daemon thread, so cancelling returns at once (the thread ends within
    ``timeout``).

    Raises TokenError: 401 → "the token server refused this device's secret"; 429 → rate
    limited (retryable); 502 → the server could not mint (its message included); network and
    TLS errors name the URL.
    """
    try:
        parts = urlsplit(url)
        usable = parts.scheme == "https" and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # e.g. a port that is not a number
        usable = False
    if not usable:
        raise TokenError(f"live.token_url must be an https:// URL, not {url!r}", None)
    if not device_secret or not all(33 <= ord(c) <= 126 for c in device_secret):
        # http.client would quote a bad header value in its exception: never let the secret out.
        raise TokenError("the device secret must be printable ASCII without spaces", None)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, dict[str, str], bytes]] = loop.create_future()

    def report(outcome: Any, failed: bool) -> None:
        if not done.done():
            (done.set_exception if failed else done.set_result)(outcome)

    def work() -> None:
        outcome: object
        try:
            outcome, failed = _post(url, device_secret, ssl_context or ssl.create_default_context(), timeout), False
        except Exception as e:  # every failure travels to the awaiting task, none is lost in the thread
            outcome, failed = e, True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(report, outcome, failed)

    threading.Thread(target=work, name="token-fetch", daemon=True).start()
    try:
        async with asyncio.timeout(timeout):
            status, headers, body = await done
    except TimeoutError as e:  # also socket timeouts (an OSError) inside the thread
        raise TokenError(f"the token server at {url} did not answer within {timeout:g} s", None) from e
    except (OSError, http.client.HTTPException) as e:
        raise TokenError(f"cannot reach the token server at {url}: {_describe(e)}", None) from e
    return _token_from(url, status, headers, body)


def _post(url: str, secret: str, context: ssl.SSLContext, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Blocking: one HTTPS POST. Returns status, lower-case headers and at most 64 KiB of body."""
    parts = urlsplit(url)
    assert parts.hostname is not None  # checked by fetch_token
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json", "Content-Length": "0"}
        connection.request("POST", path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(_MAX_BODY)
    finally:
        connection.close()


def _token_from(url: str, status: int, headers: dict[str, str], body: bytes) -> str:
    """Return the token from a token-server answer, or raise TokenError saying what went wrong."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    detail = answer.get("error") if isinstance(answer, dict) else None
    suffix = f": {detail}" if isinstance(detail, str) and detail else ""
    if status == 401:
        raise TokenError(f"the token server refused this device's secret (401 from {url})", status)
    if status == 429:
        after = headers.get("retry-after", "?")
        raise TokenError(f"the token server is rate-limiting this device (429; retry after {after} s)", status)
    if status == 502:
        raise TokenError(f"the token server could not mint a token (502){suffix}", status)
    if status != 200:
        raise TokenError(f"the token server at {url} answered HTTP {status}{suffix}", status)
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token.startswith("auth_tokens/"):
        raise TokenError(f"the token server at {url} answered 200 without an auth_tokens/... token", status)
    _LOGGER.debug("fetched a Live token from %s (expires %s)", url, answer.get("expire_time", "?"))
    return token


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message})"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
