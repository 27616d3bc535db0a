"""Scripted conversations for the fake Live server: what it hears, and what it says back.

A :class:`Script` is a list of :class:`Step` values. Each step waits for a *trigger* (the
``On*`` classes and :class:`After`), then performs its *actions* in order. Message actions
render to Live API server messages (camelCase proto3 JSON, see ``live-protocol.md`` §5);
:class:`Wait`, :class:`Close` and :class:`Drop` act on the connection and are carried out by
:mod:`edge_agent.live.fake_server`. Everything here is pure (no asyncio, no sockets) except
:func:`load_script`, which reads files.

Scripts come from :data:`BUILTIN_SCRIPTS` or from a JSON file (:func:`load_script`).
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import re
import wave
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pydantic

from edge_agent.errors import ConfigError

JsonDict = dict[str, Any]

INPUT_RATE = 16_000
"""Native sample rate of client audio (16-bit LE mono), used when a MIME type names none."""
OUTPUT_RATE = 24_000
"""Sample rate of model audio (16-bit LE mono) in ``audio/pcm;rate=24000`` parts."""
MAX_CLOSE_REASON_BYTES = 123
"""RFC 6455 §5.5: a close frame carries at most 125 bytes, 2 of them the code."""


# ---------------------------------------------------------------- wire helpers


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


# ---------------------------------------------------------------- triggers


@dataclass(frozen=True)
class OnSetup:
    """Fires on the ``setup`` of a connection the server accepted (a connection is established)."""


@dataclass(frozen=True)
class OnSpeechEnd:
    """Fires at the end of an utterance: an energy VAD over the client's realtime audio.

    In 20 ms windows: at least ``min_speech_ms`` of windows louder than ``threshold_dbfs``,
    then ``silence_ms`` of quieter ones. Also fires on ``activityEnd`` (push-to-talk), and on
    ``audioStreamEnd`` once enough speech was heard (the microphone was muted mid-sentence).
    """

    threshold_dbfs: float = -45.0
    min_speech_ms: int = 200
    silence_ms: int = 500


@dataclass(frozen=True)
class OnAudio:
    """Fires once ``seconds`` of client audio arrived (at its declared rate, 16-bit mono)."""

    seconds: float


@dataclass(frozen=True)
class OnToolResponse:
    """Fires on a ``toolResponse`` message."""


@dataclass(frozen=True)
class OnText:
    """Fires on a ``realtimeInput.text`` message."""


@dataclass(frozen=True)
class After:
    """Fires ``seconds`` after the step starts waiting (the only trigger that watches the clock)."""

    seconds: float


Trigger = OnSetup | OnSpeechEnd | OnAudio | OnToolResponse | OnText | After


# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class Audio:
    """Model audio (16-bit LE mono 24 kHz) as ``modelTurn`` inline-data parts; see :func:`audio_messages`.

    ``realtime=False`` sends as fast as possible, as the service does; True paces the
    messages at the rate the audio plays.
    """

    pcm: bytes = dataclasses.field(repr=False)
    chunk_ms: int = 40
    parts_per_message: int = 1
    transcript: str | None = None
    realtime: bool = False

    def __post_init__(self) -> None:
        if len(self.pcm) % 2:
            raise ValueError(f"pcm must hold whole 16-bit samples; got {len(self.pcm)} bytes")
        if self.chunk_ms <= 0 or self.parts_per_message < 1:
            raise ValueError("chunk_ms must be > 0 and parts_per_message >= 1")


@dataclass(frozen=True)
class Echo:
    """Send back the client audio heard while this step waited, resampled to 24 kHz, as :class:`Audio`."""

    transcript: str | None = "(echo)"
    chunk_ms: int = 40
    parts_per_message: int = 1
    realtime: bool = False


@dataclass(frozen=True)
class InputTranscript:
    """``serverContent.inputTranscription``: what the service heard the user say."""

    text: str
    finished: bool = True


@dataclass(frozen=True)
class OutputTranscript:
    """``serverContent.outputTranscription`` on its own (see :class:`Audio` for one beside audio)."""

    text: str


@dataclass(frozen=True)
class FunctionCallSpec:
    """One function call of a :class:`ToolCall`; ``id`` None: the runner makes ``call-<n>``."""

    name: str
    args: JsonDict = dataclasses.field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """``toolCall.functionCalls``: the client must answer with a ``toolResponse`` per id."""

    calls: tuple[FunctionCallSpec, ...]


@dataclass(frozen=True)
class ToolCallCancellation:
    """``toolCallCancellation.ids``: calls the client should not have run."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Interrupted:
    """``serverContent.interrupted``: the client must stop playback and drop queued audio."""


@dataclass(frozen=True)
class GenerationComplete:
    """``serverContent.generationComplete``: the model has generated all of this turn."""


@dataclass(frozen=True)
class TurnComplete:
    """``serverContent.turnComplete``: ends the SDK's ``session.receive()`` iteration."""


@dataclass(frozen=True)
class GoAway:
    """``goAway.timeLeft``: the connection will end; the client should resume elsewhere."""

    time_left_s: float


@dataclass(frozen=True)
class ResumptionUpdate:
    """``sessionResumptionUpdate``; ``None``/False are omitted, as proto3 JSON omits defaults."""

    handle: str | None
    resumable: bool = True


@dataclass(frozen=True)
class Usage:
    """``usageMetadata`` token counts (zeros omitted); ``total_tokens`` defaults to the sum."""

    prompt_tokens: int = 0
    response_tokens: int = 0
    total_tokens: int | None = None


@dataclass(frozen=True)
class Raw:
    """Send ``message`` exactly as given (for what the other actions do not cover)."""

    message: JsonDict


@dataclass(frozen=True)
class Wait:
    """Pause the script for ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Close:
    """Close the connection with a close frame; ``reason`` is cut to 123 UTF-8 bytes."""

    code: int = 1000
    reason: str = ""

    def __post_init__(self) -> None:
        if self.code in (1004, 1005, 1006, 1015) or not 1000 <= self.code <= 4999:
            raise ValueError(f"close code {self.code} cannot be sent on the wire (for 1006 use Drop())")


@dataclass(frozen=True)
class Drop:
    """Abort the TCP connection without a close frame: the client sees 1006.

    Like a real network failure, it also loses whatever the server had not flushed yet.
    """


MessageAction = (
    Audio
    | Echo
    | InputTranscript
    | OutputTranscript
    | ToolCall
    | ToolCallCancellation
    | Interrupted
    | GenerationComplete
    | TurnComplete
    | GoAway
    | ResumptionUpdate
    | Usage
    | Raw
)
Action = MessageAction | Wait | Close | Drop


@dataclass(frozen=True)
class Step:
    """Wait for ``on``, then perform ``do`` in order."""

    on: Trigger
    do: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Script:
    """A scripted conversation: ``steps`` in order, from the start again if ``repeat``.

    Steps run on the newest connection the server accepted, so a script carries on across a
    reconnect. Message triggers look at client messages received after the previous step's
    trigger fired, including those that arrived while its actions ran (a fast reply is never
    lost) and during an :class:`After`; the first step sees everything since the server started.
    """

    steps: tuple[Step, ...]
    repeat: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if self.repeat and not self.steps:
            raise ValueError("a repeating script needs at least one step")


# ---------------------------------------------------------------- watching triggers


class Watcher(Protocol):
    """Watches client messages for one trigger; built fresh each time a step starts waiting."""

    def feed(self, message: ClientMessage) -> bool:
        """Take the next client message; return True when the trigger fires."""


def watch(trigger: Trigger) -> Watcher:
    """Return a fresh watcher for a message trigger (:class:`After` is the runner's business)."""
    match trigger:
        case OnSetup():
            return _KindWatcher("setup")
        case OnSpeechEnd():
            return _SpeechEndWatcher(trigger)
        case OnAudio(seconds=seconds):
            return _AudioWatcher(seconds)
        case OnToolResponse():
            return _KindWatcher("toolResponse")
        case OnText():
            return _KindWatcher("realtimeInput", "text")
        case After():
            raise ValueError("After watches the clock, not client messages")


@dataclass
class _KindWatcher:
    kind: str
    sub: str | None = None

    def feed(self, message: ClientMessage) -> bool:
        return message.kind == self.kind and (self.sub is None or message.sub == self.sub)


@dataclass
class _AudioWatcher:
    seconds: float
    heard_s: float = 0.0

    def feed(self, message: ClientMessage) -> bool:
        self.heard_s += len(message.pcm()) / (2 * message.pcm_rate())
        return self.heard_s >= self.seconds - 1e-9  # ten 0.1 s chunks add up to 0.9999…


@dataclass
class _SpeechEndWatcher:
    trigger: OnSpeechEnd
    speech_ms: int = 0
    quiet_ms: int = 0
    carry: np.ndarray[Any, np.dtype[np.float64]] = dataclasses.field(
        default_factory=lambda: np.zeros(0, dtype=np.float64)
    )

    def feed(self, message: ClientMessage) -> bool:
        if message.kind == "realtimeInput" and message.sub == "activityEnd":
            return True
        if message.kind == "realtimeInput" and message.sub == "audioStreamEnd":
            return self.speech_ms >= self.trigger.min_speech_ms
        pcm = message.pcm()
        if not pcm:
            return False
        window = message.pcm_rate() // 50  # 20 ms
        samples = np.concatenate([self.carry, np.frombuffer(pcm, dtype="<i2").astype(np.float64)])
        count = samples.size // window
        self.carry = samples[count * window :]
        rms = np.sqrt(np.mean(samples[: count * window].reshape(count, window) ** 2, axis=1))
        loud = 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0) > self.trigger.threshold_dbfs
        for is_loud in loud.tolist():  # one iteration per 20 ms window, not per sample
            if is_loud:
                self.speech_ms, self.quiet_ms = self.speech_ms + 20, 0
                continue
            self.quiet_ms += 20
            if self.quiet_ms >= self.trigger.silence_ms:
                if self.speech_ms >= self.trigger.min_speech_ms:
                    return True
                self.speech_ms = 0  # a click, not speech: start over
        return False


# ---------------------------------------------------------------- rendering actions


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


# ---------------------------------------------------------------- built-in scripts and JSON files


def echo_script() -> Script:
    """Forever: at each end of speech, play the user's audio back at 24 kHz, transcript "(echo)"."""
    reply = (Echo(transcript="(echo)"), GenerationComplete(), TurnComplete())
    return Script(steps=(Step(OnSpeechEnd(), reply),), repeat=True, name="echo")


def _demo_script() -> Script:
    from edge_agent.live.demo_script import demo_script  # imported late: it builds on this module

    return demo_script()


BUILTIN_SCRIPTS: dict[str, Callable[[], Script]] = {"echo": echo_script, "demo": _demo_script}
"""Scripts :func:`load_script` knows by name; other modules may register more."""


def load_script(spec: str) -> Script:
    """Return the built-in script named ``spec``, or the script in the JSON file at path ``spec``.

    Raises :class:`~edge_agent.errors.ConfigError` (a ValueError) naming the file, the step
    and the field when the file is invalid.
    """
    if spec in BUILTIN_SCRIPTS:
        return BUILTIN_SCRIPTS[spec]()
    path = Path(spec)
    if not path.is_file():
        names = ", ".join(sorted(BUILTIN_SCRIPTS))
        raise ConfigError(spec, "script", f"a built-in script ({names}) or a JSON file", "neither")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(str(path), "(document)", "a readable JSON file", str(e)) from e
    return script_from_json(doc, path)


_TRIGGER_NAMES: dict[str, type[Any]] = {
    "setup": OnSetup,
    "speech_end": OnSpeechEnd,
    "audio": OnAudio,
    "tool_response": OnToolResponse,
    "text": OnText,
    "after": After,
}
_ACTION_NAMES: dict[str, type[Any]] = {
    "audio": Audio,
    "echo": Echo,
    "input_transcript": InputTranscript,
    "output_transcript": OutputTranscript,
    "tool_call": ToolCall,
    "tool_call_cancellation": ToolCallCancellation,
    "interrupted": Interrupted,
    "generation_complete": GenerationComplete,
    "turn_complete": TurnComplete,
    "go_away": GoAway,
    "resumption_update": ResumptionUpdate,
    "usage": Usage,
    "raw": Raw,
    "wait": Wait,
    "close": Close,
    "drop": Drop,
}


def script_from_json(doc: Any, path: Path) -> Script:
    """Build a script from a parsed JSON document; WAV paths are relative to ``path``'s folder.

    Shape: ``{"repeat": false, "steps": [{"on": TRIGGER, "do": [ACTION, ...]}, ...]}`` where
    TRIGGER and ACTION are ``{"name": {arguments}}`` or just ``"name"``; names are the class
    names in snake_case (``speech_end``, ``turn_complete``), arguments their fields. The
    ``audio`` action takes ``"wav"`` (16-bit mono 24 kHz) instead of ``pcm``.
    """
    file = str(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise ConfigError(file, "steps", 'an object {"steps": [...]}', _short(doc))
    _check_keys(doc, {"steps", "repeat", "name", "comment"}, "(document)", file)
    if not isinstance(doc.get("repeat", False), bool) or (doc.get("repeat") and not doc["steps"]):
        raise ConfigError(file, "repeat", "true or false (true needs steps)", _short(doc.get("repeat")))
    steps = []
    for i, step in enumerate(doc["steps"]):
        where = f"steps[{i}]"
        if not isinstance(step, dict) or "on" not in step or not isinstance(step.get("do", []), list):
            raise ConfigError(file, where, '{"on": trigger, "do": [actions]}', _short(step))
        _check_keys(step, {"on", "do", "comment"}, where, file)
        trigger = _build(step["on"], _TRIGGER_NAMES, f"{where}.on", path)
        actions = [_build(a, _ACTION_NAMES, f"{where}.do[{j}]", path) for j, a in enumerate(step.get("do", []))]
        steps.append(Step(trigger, tuple(actions)))
    return Script(tuple(steps), repeat=doc.get("repeat", False), name=str(doc.get("name", path.stem)))


def _build(spec: Any, names: dict[str, type[Any]], where: str, path: Path) -> Any:
    file = str(path)
    if isinstance(spec, str):
        spec = {spec: {}}
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in names:
        raise ConfigError(file, where, f'one of {", ".join(names)} (as "name" or {{"name": {{...}}}})', _short(spec))
    ((name, args),) = spec.items()
    where = f"{where}.{name}"
    if not isinstance(args, dict):
        raise ConfigError(file, where, "an object of arguments", _short(args))
    cls = names[name]
    allowed = {f.name for f in dataclasses.fields(cls)}
    if cls is Audio:  # the one action whose JSON differs from its fields: a WAV file, not bytes
        allowed = allowed - {"pcm"} | {"wav"}
    _check_keys(args, allowed, where, file)
    if cls is Audio:
        if not isinstance(args.get("wav"), str):
            raise ConfigError(file, f"{where}.wav", "a WAV file name", _short(args.get("wav")))
        args = {k: v for k, v in args.items() if k != "wav"} | {
            "pcm": _read_wav(path.parent / args["wav"], file, where)
        }
    try:
        return pydantic.TypeAdapter(cls).validate_python(args)
    except pydantic.ValidationError as e:
        error = e.errors()[0]
        loc = ".".join(str(part) for part in (where, *error["loc"]))
        raise ConfigError(file, loc, error["msg"].removeprefix("Value error, "), _short(error.get("input"))) from e


def _read_wav(wav: Path, file: str, where: str) -> bytes:
    try:
        with wave.open(str(wav), "rb") as w:
            found = (w.getnchannels(), w.getsampwidth() * 8, w.getframerate())
            if found != (1, 16, OUTPUT_RATE):
                raise ConfigError(
                    file,
                    f"{where}.wav",
                    f"{wav} as 16-bit mono {OUTPUT_RATE} Hz",
                    "{} channel(s), {}-bit, {} Hz".format(*found),
                )
            return w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise ConfigError(file, f"{where}.wav", "a readable 16-bit mono 24 kHz WAV file", f"{wav}: {e}") from e


def _check_keys(obj: dict[str, Any], allowed: set[str], where: str, file: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ConfigError(file, f"{where}.{unknown[0]}", f"one of {', '.join(sorted(allowed))}", "an unknown key")


def _short(value: Any) -> str:
    text = f"<{len(value)} bytes>" if isinstance(value, bytes) else json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
