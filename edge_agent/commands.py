"""The daemon's vocabulary, second half: commands (what to do).

:class:`edge_agent.conversation.Conversation` turns events (:mod:`edge_agent.events`) into
these; the shells (Live session, audio engine, GPIO) carry them out. All are small frozen values.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.events import Phase, ToolCall


@dataclass(frozen=True, slots=True)
class StartUplink:
    """Start sending microphone audio to the model."""


@dataclass(frozen=True, slots=True)
class StopUplink:
    """Stop capturing for the model. ``discard``: also drop audio captured but not yet sent (mute)."""

    discard: bool = False


@dataclass(frozen=True, slots=True)
class SendSignal:
    """Send a control message in order with the microphone audio.

    ``kind``: ``"activity_start"``, ``"activity_end"`` (push-to-talk) or ``"audio_stream_end"`` (mute).
    """

    kind: str


@dataclass(frozen=True, slots=True)
class SendText:
    """Send text to the model as user input (``realtimeInput.text``), in order with the audio."""

    text: str


@dataclass(frozen=True, slots=True)
class Connect:
    """Open a Live connection if none is open (resuming when a handle is usable). Idempotent."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the Live connection and do not reconnect until Connect (idle: costs nothing)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Drop this connection and resume on a new one (the session looks wedged)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SetMuted:
    """Privacy state changed: close or open the gate for every audio/video byte; persist it."""

    muted: bool


@dataclass(frozen=True, slots=True)
class SetCamera:
    """Allow or stop camera frames (the budget, mute and listening decide)."""

    allowed: bool


@dataclass(frozen=True, slots=True)
class PlayNotice:
    """Play a short local sound that needs no network, e.g. ``"budget"``, ``"muted"``."""

    name: str


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Queue reply audio (16-bit LE mono, 24 kHz) for the speaker."""

    pcm: bytes
    received_at: float | None = None
    """When it arrived (``time.monotonic()``), passed through for the latency figures."""


@dataclass(frozen=True, slots=True)
class FlushPlayback:
    """Discard all queued reply audio now (barge-in): the speaker goes silent."""

    reason: str
    received_at: float | None = None
    """When the ``interrupted`` behind it arrived (``time.monotonic()``), for the flush figure."""


@dataclass(frozen=True, slots=True)
class FinishPlayback:
    """The turn is over: play out what is queued, then report PlaybackDrained."""


@dataclass(frozen=True, slots=True)
class RunTools:
    """Execute these calls and send their results to the model."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class UndoTools:
    """The model withdrew these calls: undo what they changed, where it still stands."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogTranscript:
    """Log one finished utterance: ``speaker`` is ``"User"`` or ``"Gemini"``."""

    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start the named timer; a TimerFired with the same name follows unless cancelled."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel the named timer if it runs. Idempotent."""

    name: str


@dataclass(frozen=True, slots=True)
class PhaseEntered:
    """The conversation moved to ``phase`` (for status, lights and the log)."""

    phase: Phase


Command = (
    StartUplink
    | StopUplink
    | SendSignal
    | SendText
    | Connect
    | Disconnect
    | Reconnect
    | SetMuted
    | SetCamera
    | PlayNotice
    | PlayAudio
    | FlushPlayback
    | FinishPlayback
    | RunTools
    | UndoTools
    | LogTranscript
    | StartTimer
    | CancelTimer
    | PhaseEntered
)
