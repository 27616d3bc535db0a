"""Rendering script actions into Live API server messages (proto3 JSON, camelCase; pure).

:func:`render` turns one message action into the :class:`Outgoing` messages to send, in
order (``live-protocol.md`` §5); :func:`audio_messages` splits model audio into
``serverContent`` messages with their share of the transcript.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edge_agent.live.fake_steps import (
    Audio,
    Echo,
    GenerationComplete,
    GoAway,
    InputTranscript,
    Interrupted,
    MessageAction,
    OutputTranscript,
    Raw,
    ResumptionUpdate,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    Usage,
)
from edge_agent.live.fake_wire import INPUT_RATE, OUTPUT_RATE, JsonDict, b64encode, duration, resample_linear


@dataclass(frozen=True)
class Outgoing:
    """One server message to send, then how long to pause to pace it at real time (0: don't)."""

    payload: JsonDict
    pace_s: float = 0.0


@dataclass
class RenderContext:
    """What the runner gives an action when it renders it into server messages."""

    heard: bytes = b""
    """Client audio received while this step waited for its trigger (used by :class:`Echo`)."""
    heard_rate: int = INPUT_RATE
    call_ids: Iterator[str] = dataclasses.field(default_factory=lambda: (f"call-{n}" for n in itertools.count(1)))
    """Ids for function calls that have none; the runner shares one across the whole script."""


def _content(**fields: Any) -> list[Outgoing]:
    return [Outgoing({"serverContent": fields})]


def audio_messages(
    pcm: bytes, chunk_ms: int, parts_per_message: int, transcript: str | None, realtime: bool
) -> list[Outgoing]:
    """Split 24 kHz PCM into ``serverContent`` messages, spreading ``transcript`` over them.

    Each message holds ``parts_per_message`` parts of ``chunk_ms`` each and, when its share
    of the transcript is not empty, an ``outputTranscription`` in the same message.
    The transcript is split before words, so joining the pieces gives it back unchanged.
    """
    chunk = max(2, OUTPUT_RATE * 2 * chunk_ms // 1000 // 2 * 2)
    chunks = [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)]
    groups = [chunks[i : i + parts_per_message] for i in range(0, len(chunks), parts_per_message)]
    words = [w for w in re.split(r"(?<=\s)(?=\S)", transcript or "") if w]
    count = max(len(groups), 1 if words else 0)
    messages = []
    for i in range(count):
        group = groups[i] if i < len(groups) else []
        text = "".join(words[i * len(words) // count : (i + 1) * len(words) // count])
        content: JsonDict = {}
        if group:
            content["modelTurn"] = {"parts": [_audio_part(c) for c in group]}
        if text:
            content["outputTranscription"] = {"text": text}
        pace = sum(len(c) for c in group) / (2 * OUTPUT_RATE) if realtime else 0.0
        messages.append(Outgoing({"serverContent": content}, pace))
    return messages


def _audio_part(pcm: bytes) -> JsonDict:
    return {"inlineData": {"mimeType": f"audio/pcm;rate={OUTPUT_RATE}", "data": b64encode(pcm)}}


def render(action: MessageAction, ctx: RenderContext) -> list[Outgoing]:
    """Return the server messages for ``action``, in sending order (proto3 JSON, camelCase)."""
    match action:
        case Audio():
            a = action
            return audio_messages(a.pcm, a.chunk_ms, a.parts_per_message, a.transcript, a.realtime)
        case Echo():
            pcm = resample_linear(ctx.heard, ctx.heard_rate, OUTPUT_RATE)
            e = action
            return audio_messages(pcm, e.chunk_ms, e.parts_per_message, e.transcript, e.realtime)
        case InputTranscript(text=text, finished=finished):
            return _content(inputTranscription={"text": text} | ({"finished": True} if finished else {}))
        case OutputTranscript(text=text):
            return _content(outputTranscription={"text": text})
        case ToolCall(calls=calls):
            specs = [{"id": c.id or next(ctx.call_ids), "name": c.name, "args": c.args} for c in calls]
            return [Outgoing({"toolCall": {"functionCalls": specs}})]
        case ToolCallCancellation(ids=ids):
            return [Outgoing({"toolCallCancellation": {"ids": list(ids)}})]
        case Interrupted():
            return _content(interrupted=True)
        case GenerationComplete():
            return _content(generationComplete=True)
        case TurnComplete():
            return _content(turnComplete=True)
        case GoAway(time_left_s=time_left_s):
            return [Outgoing({"goAway": {"timeLeft": duration(time_left_s)}})]
        case ResumptionUpdate(handle=handle, resumable=resumable):
            update = ({"newHandle": handle} if handle else {}) | ({"resumable": True} if resumable else {})
            return [Outgoing({"sessionResumptionUpdate": update})]
        case Usage(prompt_tokens=prompt, response_tokens=response, total_tokens=total):
            counts = {
                "promptTokenCount": prompt,
                "responseTokenCount": response,
                "totalTokenCount": prompt + response if total is None else total,
            }
            return [Outgoing({"usageMetadata": {k: v for k, v in counts.items() if v}})]
        case Raw(message=message):
            return [Outgoing(message)]
