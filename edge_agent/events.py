"""The daemon's vocabulary, first half: the phase and the events (what happened, past tense).

Events flow into :class:`edge_agent.conversation.Conversation`; commands
(:mod:`edge_agent.commands`) flow out of it to the shells (Live session, audio engine, GPIO).
All are small frozen values, so the conversation core can be tested as a table of
"events in, commands out" with no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Phase(enum.Enum):
    """Where the conversation is. Exactly one at a time; every log line carries it.

    Precedence when several apply: muted > error > connecting/reconnecting > responding >
    listening > standby.
    """

    CONNECTING = "connecting"
    """Opening the first Live connection (or one after an idle close), audio is buffered."""
    STANDBY = "standby"
    """Microphone not streaming; waiting for a wake. The connection may be closed (idle)."""
    LISTENING = "listening"
    """Microphone audio is streaming to the model."""
    RESPONDING = "responding"
    """The model is answering: audio playing and/or tool calls running."""
    MUTED = "muted"
    """Privacy mute: no audio or video byte leaves the device."""
    RECONNECTING = "reconnecting"
    """The connection dropped or is being rotated; captured audio is held and sent on reconnect."""
    ERROR = "error"
    """Something a person must fix (e.g. the API key was refused); retrying slowly."""


class ConnectAction(enum.Enum):
    """How the session layer will reconnect after a close (see :mod:`edge_agent.live.retry`)."""

    RESUME = "resume"
    FRESH = "fresh"
    NEEDS_PERSON = "needs_person"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call from the model."""

    id: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to one :class:`ToolCall`: same ``id`` and ``name``, a JSON object."""

    id: str
    name: str
    response: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        """False when the call was refused (the response carries an ``error``)."""
        return "error" not in self.response


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class SessionConnected:
    """The Live connection is set up (``setupComplete`` received)."""

    resumed: bool = False


@dataclass(frozen=True, slots=True)
class SessionDisconnected:
    """The Live connection ended; ``reason`` is for the log, ``action`` says what happens next."""

    reason: str
    action: ConnectAction = ConnectAction.RESUME
    handover: bool = False
    """A planned rotation (goAway, watchdog): the session resumes at once, tool calls stay pending."""


@dataclass(frozen=True, slots=True)
class WakeRequested:
    """Someone asked the device to listen (button tap, control socket)."""

    source: str


@dataclass(frozen=True, slots=True)
class TalkPressed:
    """Push-to-talk: the button went down (the user starts talking)."""


@dataclass(frozen=True, slots=True)
class TalkReleased:
    """Push-to-talk: the button came up (the user stopped talking)."""


@dataclass(frozen=True, slots=True)
class MuteRequested:
    """Mute (True), unmute (False) or toggle (None), from ``source`` (button, ctl, restored state)."""

    muted: bool | None
    source: str


@dataclass(frozen=True, slots=True)
class HardMuteChanged:
    """The hardware mute switch moved: ``on`` = mute position (nothing in software can unmute)."""

    on: bool


@dataclass(frozen=True, slots=True)
class TextRequested:
    """Text for the model as if the user had said it (``edge-agent ctl say``)."""

    text: str


@dataclass(frozen=True, slots=True)
class BudgetChanged:
    """The daily token budget moved: ``camera`` False = stop frames, ``turns`` False = refuse turns."""

    camera: bool
    turns: bool


@dataclass(frozen=True, slots=True)
class ModelAudioReceived:
    """Reply audio from the model: 16-bit LE mono PCM at 24 kHz."""

    pcm: bytes
    received_at: float | None = None
    """``time.monotonic()`` when the message arrived (for the wire → speaker figure)."""


@dataclass(frozen=True, slots=True)
class InputTranscribed:
    """A piece of the transcription of what the user said."""

    text: str
    finished: bool = False


@dataclass(frozen=True, slots=True)
class OutputTranscribed:
    """A piece of the transcription of what the model said."""

    text: str


@dataclass(frozen=True, slots=True)
class ModelInterrupted:
    """The user's activity interrupted the model: queued reply audio must go."""

    received_at: float | None = None
    """``time.monotonic()`` when the message arrived (for the flush figure)."""


@dataclass(frozen=True, slots=True)
class GenerationCompleted:
    """The model has generated its whole reply (playback may still be running)."""


@dataclass(frozen=True, slots=True)
class TurnCompleted:
    """The model's turn is over."""


@dataclass(frozen=True, slots=True)
class ToolCallsReceived:
    """The model asked for function calls; each needs a response with the same id."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class ToolCallsCancelled:
    """The model withdrew earlier calls (only when the user interrupted)."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToolCallsAnswered:
    """Responses for these call ids were sent to the model."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoAwayReceived:
    """The server will close this connection in ``time_left_s`` seconds."""

    time_left_s: float


@dataclass(frozen=True, slots=True)
class PlaybackDrained:
    """The speaker has played everything that was queued for the finished turn."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer started with :class:`StartTimer` ran out (``generation`` tells a stale firing apart)."""

    name: str
    generation: int = 0


Event = (
    SessionConnected
    | SessionDisconnected
    | WakeRequested
    | TalkPressed
    | TalkReleased
    | MuteRequested
    | HardMuteChanged
    | TextRequested
    | BudgetChanged
    | ModelAudioReceived
    | InputTranscribed
    | OutputTranscribed
    | ModelInterrupted
    | GenerationCompleted
    | TurnCompleted
    | ToolCallsReceived
    | ToolCallsCancelled
    | ToolCallsAnswered
    | GoAwayReceived
    | PlaybackDrained
    | TimerFired
)
