"""The vocabulary of fake Live scripts: triggers, actions, :class:`Step` and :class:`Script`.

A :class:`Script` is a list of :class:`Step` values. Each step waits for a *trigger* (the
``On*`` classes and :class:`After`), then performs its *actions* in order. Message actions
render to Live API server messages (:mod:`edge_agent.live.fake_render`);
:class:`Wait`, :class:`Close` and :class:`Drop` act on the connection and are carried out by
the runner (:mod:`edge_agent.live.fake_runner`). Plain frozen dataclasses: no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edge_agent.live.fake_wire import JsonDict

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
