"""What the fake Live server records: connections and sent messages, redacted, saved as JSON lines.

:class:`ConnectionRecord` and :class:`SentMessage` are what tests assert on; the helpers
redact credentials from paths and headers, replace base64 blobs by their size
(:func:`summarise`) and write the whole record (:func:`write_record`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

from edge_agent.live.fake_wire import ClientMessage, JsonDict, field

_SECRET_HEADERS = frozenset({"x-goog-api-key", "authorization"})
_SECRET_PARAMS = frozenset({"key", "access_token"})


@dataclass
class ConnectionRecord:
    """One accepted WebSocket, as the fake server saw it.

    Filled in while the connection runs; the close fields are set when the server's handler
    has seen the close, so they are final once :meth:`FakeLiveServer.close` has returned.
    """

    index: int
    """Position in ``FakeLiveServer.connections``; :class:`ClientMessage` refers to it."""
    path: str
    """Request path, with ``key``/``access_token`` query values replaced by ``<redacted>``."""
    headers: dict[str, str]
    """Request headers (lower-case names); ``x-goog-api-key`` and ``authorization`` redacted."""
    api_version: str
    method: str
    """``BidiGenerateContent`` or ``BidiGenerateContentConstrained``."""
    opened_t: float
    setup: JsonDict | None = None
    """The ``setup`` message's value as received, accepted or not (None until it arrives)."""
    accepted: bool = False
    """True once ``setupComplete`` was sent."""
    close_code: int | None = None
    """Code of the first close frame (1006 if none); None while open."""
    close_reason: str | None = None
    closed_by: str | None = None
    """``"client"`` or ``"server"``: who sent the first close frame; None if nobody did."""
    dropped: bool = False
    """True when a :class:`~edge_agent.live.fake_script.Drop` action aborted it."""
    closed_t: float | None = None


@dataclass(frozen=True)
class SentMessage:
    """One message the server sent; inline data is replaced by its size (``dataBytes``)."""

    connection: int
    t: float
    payload: JsonDict


def record_close(ws: ServerConnection, record: ConnectionRecord) -> None:
    """Fill in the close fields of ``record`` from the closing handshake ``ws`` went through."""
    protocol = ws.protocol
    received, sent = protocol.close_rcvd, protocol.close_sent
    if received is not None and (protocol.close_rcvd_then_sent or sent is None):
        record.close_code, record.close_reason, record.closed_by = received.code, received.reason, "client"
    elif sent is not None:
        record.close_code, record.close_reason, record.closed_by = sent.code, sent.reason, "server"
    else:
        record.close_code, record.close_reason = 1006, ""
    record.closed_t = time.monotonic()


def redact_headers(headers: Headers) -> dict[str, str]:
    """Return the request headers with lower-case names, credentials replaced by ``<redacted>``."""
    return {
        name.lower(): "<redacted>" if name.lower() in _SECRET_HEADERS else value for name, value in headers.raw_items()
    }


def redact_path(path: str) -> str:
    """Return a request path with ``key``/``access_token`` query values replaced by ``<redacted>``."""
    path, mark, query = path.partition("?")
    params = [(k, "<redacted>" if k in _SECRET_PARAMS else v) for k, v in parse_qsl(query, True)]
    return path + mark + urlencode(params, safe="<>")


def summarise(value: Any) -> Any:
    """Copy a JSON value with each base64 blob ``data`` replaced by ``dataBytes`` (its size)."""
    if isinstance(value, list):
        return [summarise(v) for v in value]
    if not isinstance(value, dict):
        return value
    summary = {}
    for key, item in value.items():
        if key == "data" and isinstance(item, str) and field(value, "mimeType") is not None:
            summary["dataBytes"] = len(item.rstrip("=")) * 3 // 4
        else:
            summary[key] = summarise(item)
    return summary


def write_record(
    path: str | os.PathLike[str],
    connections: Sequence[ConnectionRecord],
    messages: Sequence[ClientMessage],
    sent: Sequence[SentMessage],
    t0: float,
) -> None:
    """Write connections, then client and server messages in time order, as JSON lines.

    Times are seconds since ``t0``; base64 ``data`` becomes ``dataBytes`` (its size).
    Blocking file I/O.
    """

    def rel(t: float) -> float:
        return round(t - t0, 6)

    rows: list[JsonDict] = []
    for c in connections:
        row = dataclasses.asdict(c) | {"setup": summarise(c.setup)}
        rows.append({"type": "connection"} | row | {"opened_t": rel(c.opened_t)})
        rows[-1]["closed_t"] = None if c.closed_t is None else rel(c.closed_t)
    events = [(m.t, "client", m.connection, m.kind, m.sub, summarise(m.payload)) for m in messages]
    events += [(s.t, "server", s.connection, next(iter(s.payload), ""), None, s.payload) for s in sent]
    for t, side, connection, kind, sub, payload in sorted(events, key=lambda e: e[0]):
        rows.append(
            {"type": side, "connection": connection, "t": rel(t), "kind": kind}
            | ({"sub": sub} if sub else {})
            | {"payload": payload}
        )
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
