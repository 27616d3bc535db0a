"""The Live API wire format, as the fake server speaks it: JSON field names, base64, durations, PCM.

Pure helpers shared by the script vocabulary (:mod:`edge_agent.live.fake_steps`), the
renderer (:mod:`edge_agent.live.fake_render`) and the server: key spelling (proto3 JSON
accepts camelCase and snake_case, ``live-protocol.md`` §2), base64, ``Duration`` strings,
close reasons, 16-bit PCM rates and resampling, and :class:`ClientMessage`, one parsed
client message.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

JsonDict = dict[str, Any]

INPUT_RATE = 16_000
"""Native sample rate of client audio (16-bit LE mono), used when a MIME type names none."""
OUTPUT_RATE = 24_000
"""Sample rate of model audio (16-bit LE mono) in ``audio/pcm;rate=24000`` parts."""
MAX_CLOSE_REASON_BYTES = 123
"""RFC 6455 §5.5: a close frame carries at most 125 bytes, 2 of them the code."""
CLIENT_KINDS = frozenset({"setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate"})
"""Top-level fields a client message may have (camelCase)."""


def to_camel(name: str) -> str:
    """Return ``name`` in lowerCamelCase (``tool_response`` → ``toolResponse``)."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def to_snake(name: str) -> str:
    """Return ``name`` in snake_case (``toolResponse`` → ``tool_response``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def field(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Return ``obj[name]`` whether the sender spelled the key in camelCase or snake_case.

    Proto3 JSON parsers accept both and the Python SDK mixes them (``live-protocol.md`` §2).
    """
    for key in (to_camel(name), to_snake(name)):
        if key in obj:
            return obj[key]
    return default


def b64decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding; ValueError if invalid."""
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def b64encode(data: bytes) -> str:
    """Encode as the service does: standard alphabet, with padding."""
    return base64.b64encode(data).decode("ascii")


def truncate_reason(reason: str, limit: int = MAX_CLOSE_REASON_BYTES) -> str:
    """Cut a close reason to ``limit`` UTF-8 bytes (mid-word, as the service does)."""
    return reason.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def duration(seconds: float) -> str:
    """Format a ``google.protobuf.Duration`` as proto3 JSON: ``"10s"``, ``"0.500s"``."""
    whole, nanos = divmod(round(seconds * 1e9), 10**9)
    if nanos == 0:
        return f"{whole}s"
    digits = 3 if nanos % 10**6 == 0 else 6 if nanos % 10**3 == 0 else 9
    return f"{whole}.{nanos // 10 ** (9 - digits):0{digits}d}s"


def pcm_rate(mime_type: str, default: int = INPUT_RATE) -> int:
    """Return the ``rate=`` of a MIME type such as ``audio/pcm;rate=16000``."""
    match = re.search(r"rate=(\d+)", mime_type)
    return int(match.group(1)) if match else default


def resample_linear(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample 16-bit LE mono PCM by linear interpolation (good enough for a fake)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if samples.size == 0 or src_rate == dst_rate:
        return pcm
    count = round(samples.size * dst_rate / src_rate)
    times = np.arange(count) * (src_rate / dst_rate)
    out = np.interp(times, np.arange(samples.size), samples)
    return bytes(np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes())


# ---------------------------------------------------------------- what the client sent


@dataclass(frozen=True)
class ClientMessage:
    """One message a client sent, as the fake server recorded it."""

    connection: int
    """Index of the connection in ``FakeLiveServer.connections``."""
    t: float
    """``time.monotonic()`` when it arrived."""
    kind: str
    """Top-level field in camelCase: ``setup``, ``realtimeInput``, ``toolResponse``, ``clientContent``."""
    payload: JsonDict = dataclasses.field(repr=False)
    """The value of that field, as received (keys not normalised: read them with :func:`field`)."""
    sub: str | None = None
    """For ``realtimeInput``: its field in camelCase (``audio``, ``activityEnd``, ``mediaChunks``…)."""

    def audio_blobs(self) -> list[JsonDict]:
        """Return the audio blobs (``{mimeType, data}``) this message carries, if any."""
        if self.kind != "realtimeInput":
            return []
        if self.sub == "audio":
            return [field(self.payload, "audio")]
        if self.sub == "mediaChunks":
            chunks = field(self.payload, "mediaChunks") or []
            return [c for c in chunks if str(field(c, "mimeType", "")).startswith("audio/")]
        return []

    def pcm(self) -> bytes:
        """Return the decoded audio of this message (b"" if none). Decodes on every call."""
        return b"".join(b64decode_any(field(blob, "data", "")) for blob in self.audio_blobs())

    def pcm_rate(self) -> int:
        """Return the sample rate declared by this message's audio MIME type (default 16 kHz)."""
        blobs = self.audio_blobs()
        return pcm_rate(str(field(blobs[0], "mimeType", ""))) if blobs else INPUT_RATE


def parse_client_message(raw: str | bytes, connection: int) -> ClientMessage:
    """Return one client message; ValueError with the close reason if it is not valid."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"Invalid JSON payload received. {e}") from e
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ValueError("Invalid JSON payload received. Expected exactly one of " + ", ".join(CLIENT_KINDS))
    ((key, payload),) = obj.items()
    kind = to_camel(key)
    if kind not in CLIENT_KINDS or not isinstance(payload, dict):
        raise ValueError(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    sub = to_camel(next(iter(payload))) if kind == "realtimeInput" and payload else None
    message = ClientMessage(connection, time.monotonic(), kind, payload, sub)
    try:
        message.pcm()
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"Invalid value at 'realtime_input.{to_snake(sub or '')}.data' (TYPE_BYTES), Base64 decoding failed"
        ) from e
    return message
