"""What the status lights and the privacy light show: a pure state machine, no I/O, no threads.

The daemon's situation (:class:`Situation`: the conversation's phase plus a few flags) decides one
named :class:`LightState`, by a fixed precedence::

    muted > auth error > budget exhausted > offline > speaking > thinking > connecting > listening > standby

and each state has one :class:`LightPattern` (:data:`PATTERNS`): a color, an effect (solid, pulse,
blink, spin), a period and a level. The **privacy light** is separate and independent of all of that:
on exactly while camera frames may be sent, and never while muted (no frame leaves a muted device).

:class:`LightsTracker` derives the situation from the daemon's own vocabulary: feed it every event the
conversation receives and every command the daemon runs (:meth:`LightsTracker.observe`); it returns the
new :class:`Lights` when what they show changed. :func:`frame_at` says what each pixel shows at a time
``t`` into a pattern; the drivers (:mod:`edge_agent.hardware.lights`) only render it.

A single-color LED cannot show colors, so every pattern is also told apart by its effect, period
and level alone (``LightPattern.mono`` overrides them where the color would be the only difference).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from edge_agent import commands as cmd
from edge_agent import events as ev
from edge_agent.commands import Command
from edge_agent.events import ConnectAction, Event, Phase

Color = tuple[int, int, int]
"""Red, green, blue, each 0..255."""
RGB = tuple[float, float, float]
"""What one pixel shows: red, green, blue, each 0..1 (color × intensity, before the device's brightness)."""

PRIVACY_COLOR: Color = (0, 255, 0)
"""The color of an apa102 ring's reserved privacy pixel."""


class Effect(enum.Enum):
    """How a pattern changes over its period."""

    OFF = "off"
    SOLID = "solid"
    PULSE = "pulse"
    """Fades up and down (a raised cosine), one cycle per period."""
    BLINK = "blink"
    """On for ``duty`` of the period, then off."""
    SPIN = "spin"
    """A bright spot travels round the pixels once per period (one pixel: it pulses, dark half the time)."""


class LightState(enum.Enum):
    """What the status lights say, one at a time."""

    OFF = "off"
    STANDBY = "standby"
    CONNECTING = "connecting"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    MUTED = "muted"
    OFFLINE = "offline"
    AUTH_ERROR = "auth_error"
    BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True, slots=True)
class LightPattern:
    """One way of lighting the status lights. Immutable; equal patterns render identically."""

    color: Color
    effect: Effect
    period_s: float = 0.0
    """Length of one cycle (PULSE, BLINK, SPIN); unused by SOLID and OFF."""
    level: float = 1.0
    """Peak intensity 0..1, before the device's ``lights.brightness``."""
    duty: float = 0.5
    """BLINK: the part of the period it is on."""
    mono: LightPattern | None = None
    """How a single-color LED shows this pattern instead (None: the same, color ignored)."""

    def for_mono(self) -> LightPattern:
        """The pattern a single-color LED shows."""
        return self.mono if self.mono is not None else self

    @property
    def animated(self) -> bool:
        """True if what it shows changes with time (a driver must redraw it)."""
        return self.effect in (Effect.PULSE, Effect.BLINK, Effect.SPIN) and self.period_s > 0 and self.level > 0


OFF = LightPattern((0, 0, 0), Effect.OFF, level=0.0)

PATTERNS: Mapping[LightState, LightPattern] = {
    LightState.OFF: OFF,
    LightState.STANDBY: LightPattern((255, 255, 255), Effect.SOLID, level=0.1),  # a dim glow: alive, not hearing
    LightState.CONNECTING: LightPattern((255, 255, 255), Effect.SPIN, 1.5, level=0.5),
    LightState.LISTENING: LightPattern((0, 64, 255), Effect.SOLID),  # bright: I hear you
    LightState.THINKING: LightPattern((0, 200, 255), Effect.SPIN, 0.75),
    LightState.SPEAKING: LightPattern((64, 128, 255), Effect.PULSE, 1.5),
    LightState.MUTED: LightPattern(
        (255, 0, 0), Effect.SOLID, level=0.6, mono=LightPattern((255, 0, 0), Effect.BLINK, 3.0, duty=0.1)
    ),
    LightState.OFFLINE: LightPattern((255, 96, 0), Effect.PULSE, 3.0, level=0.6),
    LightState.AUTH_ERROR: LightPattern((255, 0, 0), Effect.BLINK, 0.5),  # fast red blink: a person must act
    LightState.BUDGET_EXHAUSTED: LightPattern((255, 160, 0), Effect.BLINK, 2.0, level=0.5),
}
"""The one pattern of each state: distinct in color and, for a single LED, in effect, period and level."""


@dataclass(frozen=True, slots=True)
class Situation:
    """What the daemon is doing, as far as the lights care."""

    phase: Phase = Phase.CONNECTING
    thinking: bool = False
    """The user finished (or a tool runs) and no reply audio has come yet."""
    speaking: bool = False
    """Reply audio is queued or playing."""
    offline: bool = False
    """The connection failed and is being retried (not an idle close)."""
    auth_error: bool = False
    """A person must act: the key was refused, the model is unknown, the quota is gone."""
    budget_exhausted: bool = False
    """The daily token budget is used up: new turns are refused."""
    camera_active: bool = False
    """Camera frames may be sent now."""


@dataclass(frozen=True, slots=True)
class Lights:
    """What all the lights show: the status lights' state and pattern, and the privacy light."""

    state: LightState
    status: LightPattern
    privacy: bool


LIGHTS_OFF = Lights(LightState.OFF, OFF, False)
"""Everything dark (before start, after close)."""


def status_state(s: Situation) -> LightState:
    """The one state the status lights show, by the precedence in the module docstring."""
    if s.phase is Phase.MUTED:
        return LightState.MUTED
    if s.auth_error or s.phase is Phase.ERROR:
        return LightState.AUTH_ERROR
    if s.budget_exhausted:
        return LightState.BUDGET_EXHAUSTED
    if s.offline:
        return LightState.OFFLINE
    if s.speaking:
        return LightState.SPEAKING
    if s.thinking or s.phase is Phase.RESPONDING:
        return LightState.THINKING
    if s.phase in (Phase.CONNECTING, Phase.RECONNECTING):
        return LightState.CONNECTING
    if s.phase is Phase.LISTENING:
        return LightState.LISTENING
    return LightState.STANDBY


def privacy_on(s: Situation) -> bool:
    """The privacy light: on while camera frames may be sent, never while muted."""
    return s.camera_active and s.phase is not Phase.MUTED


def lights_for(s: Situation) -> Lights:
    """Everything the lights show in situation ``s``. Pure."""
    state = status_state(s)
    return Lights(state, PATTERNS[state], privacy_on(s))


# --------------------------------------------------------------------------- rendering


def intensity_at(pattern: LightPattern, t: float, index: int = 0, count: int = 1) -> float:
    """Intensity 0..1 of pixel ``index`` of ``count`` at ``t`` seconds into ``pattern``. Pure."""
    if pattern.effect is Effect.OFF or pattern.level <= 0:
        return 0.0
    if pattern.effect is Effect.SOLID or pattern.period_s <= 0:
        return pattern.level
    phase = (t / pattern.period_s) % 1.0
    match pattern.effect:
        case Effect.PULSE:
            wave = 0.5 - 0.5 * math.cos(2 * math.pi * phase)
        case Effect.BLINK:
            wave = 1.0 if phase < pattern.duty else 0.0
        case _:  # SPIN: a raised cosine lobe travelling round the ring
            wave = max(0.0, math.cos(2 * math.pi * (phase - index / count))) ** 2
    return pattern.level * wave


def frame_at(pattern: LightPattern, t: float, count: int) -> tuple[RGB, ...]:
    """What each of ``count`` color pixels shows at ``t`` seconds into ``pattern``. Pure."""
    r, g, b = (channel / 255 for channel in pattern.color)
    frame = []
    for i in range(count):
        k = intensity_at(pattern, t, i, count)
        frame.append((r * k, g * k, b * k))
    return tuple(frame)


# --------------------------------------------------------------------------- tracking the daemon


class LightsTracker:
    """Follows the daemon's events and commands and says what the lights show. Pure; thread: caller's.

    Call :meth:`observe` with every event after the conversation received it and with every command
    before or after it runs; show the returned :class:`Lights` (None: nothing changed). Idempotent:
    observing a repeated state changes nothing.
    """

    def __init__(self, *, camera_enabled: bool) -> None:
        self.camera_enabled = camera_enabled
        self.situation = Situation()
        self.lights = lights_for(self.situation)
        self._muted = False
        self._camera_allowed = False
        """The last SetCamera: frames may go out under the camera policy."""
        self._frame_pending = False
        """A frame asked for outside the policy (the model's look tool) is being taken or sent."""
        self._closing = False
        """An idle close was asked for: the disconnect that follows is not "offline"."""
        self._replied = False
        """A reply came since the user last spoke: a late final transcript is not a new question."""

    def observe(self, message: Event | Command) -> Lights | None:
        """Take one event or command into account; return the new Lights if they changed."""
        s = self._next(self.situation, message)
        return self._set(s)

    def set_frame_pending(self, pending: bool) -> Lights | None:
        """A frame outside the SetCamera window (the look tool) is about to be taken (True) or went out (False).

        The privacy light is on while either this or the last SetCamera allows frames (never while muted).
        """
        self._frame_pending = pending
        return self._set(self._camera(self.situation))

    def _camera(self, s: Situation) -> Situation:
        active = (self._camera_allowed or self._frame_pending) and self.camera_enabled and not self._muted
        return replace(s, camera_active=active)

    def _set(self, s: Situation) -> Lights | None:
        self.situation = s
        lights = lights_for(s)
        if lights == self.lights:
            return None
        self.lights = lights
        return lights

    def _next(self, s: Situation, message: Event | Command) -> Situation:  # noqa: C901 - one flat table
        match message:
            case cmd.PhaseEntered(phase=phase):
                return replace(s, phase=phase)
            case cmd.SetMuted(muted=muted):
                self._muted = muted
                if muted:  # the daemon drops the camera's allowance and any pending frame with the mute
                    self._camera_allowed = self._frame_pending = False
                return self._camera(replace(s, thinking=s.thinking and not muted))
            case cmd.SetCamera(allowed=allowed):
                self._camera_allowed = allowed and not self._muted  # as the daemon takes it
                return self._camera(s)
            case cmd.Disconnect():
                self._closing = True
            case cmd.Connect():
                self._closing = False
            case ev.SessionConnected():
                return replace(s, offline=False, auth_error=False)
            case ev.SessionDisconnected(handover=False, action=action):
                if action is ConnectAction.NEEDS_PERSON:
                    return replace(s, auth_error=True, thinking=False)
                return replace(s, offline=not self._closing, thinking=False)
            case ev.BudgetChanged(turns=turns):
                return replace(s, budget_exhausted=not turns)
            case ev.InputTranscribed(finished=False):
                self._replied = False
            case ev.InputTranscribed(finished=True):
                return replace(s, thinking=s.thinking or (not self._replied and not self._muted))
            case ev.TalkReleased() | ev.TextRequested() | ev.ToolCallsReceived() | ev.ToolCallsAnswered():
                self._replied = False
                return replace(s, thinking=not self._muted)
            case cmd.PlayAudio():
                self._replied = True
                return replace(s, speaking=True, thinking=False)
            case cmd.FlushPlayback():
                return replace(s, speaking=False, thinking=False)
            case ev.PlaybackDrained():
                return replace(s, speaking=False)
            case ev.TurnCompleted() | ev.GenerationCompleted() | ev.ModelInterrupted():
                self._replied = True
                return replace(s, thinking=False)
        return s
