"""The rules that keep outputs safe, apart from any pin: interlocks, anti-chatter, auto-off timers.

:class:`~edge_agent.hardware.gpio.Outputs` asks :class:`RelayRules` before it switches a relay and
lets :class:`AutoOff` time ``max_on_s``. Both are pure: time comes from an injected ``clock`` and
timers from an injected :data:`Schedule` (``loop.call_later`` in the daemon, :func:`thread_schedule`
by default, a fake in tests), so every rule is testable without sleeping.

The vocabulary the tools share with the outputs lives here too: :class:`OutputState` (what an
output shows, read back from its pins) and :class:`OutputRefused` (a switch the rules do not allow).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from edge_agent.colors import describe as describe_color
from edge_agent.errors import EdgeAgentError
from edge_agent.settings import OutputSettings


class OutputRefused(EdgeAgentError, ValueError):
    """A switch the rules do not allow (interlock, too soon, shutting down); nothing was changed.

    The message is written for the model and the log: it names the output and what to do instead.
    """


@dataclass(frozen=True, slots=True)
class OutputState:
    """What an output shows, read back from its pins. Equal states look the same to a person."""

    on: bool
    """Lit, energised or sounding (a buzzer in a beep sequence counts as on)."""
    brightness: int | None = None
    """pwm_led and rgb_led: percent 0..100 (0 when off); None for the on/off kinds."""
    color: str | None = None
    """rgb_led while lit: the colour at full brightness as ``#rrggbb``; otherwise None."""
    beeping: bool = False
    """buzzer: a beep sequence started by ``beep`` is still running."""

    def describe(self) -> str:
        """``on``, ``off``, ``on at 40 %``, ``red at 100 %``, ``beeping``: for logs and undo lines."""
        if not self.on:
            return "off"
        if self.beeping:
            return "beeping"
        what = describe_color(self.color) if self.color else "on"
        return what if self.brightness is None else f"{what} at {self.brightness} %"


class Cancel(Protocol):
    """A scheduled callback that can still be called off (``asyncio.TimerHandle``, ``threading.Timer``)."""

    def cancel(self) -> None:
        """Call the callback off if it has not run yet. Idempotent."""


Schedule = Callable[[float, Callable[[], None]], Cancel]
"""``schedule(delay_s, callback)`` runs ``callback`` once after ``delay_s``; ``loop.call_later`` fits."""


def thread_schedule(delay_s: float, callback: Callable[[], None]) -> Cancel:
    """A :data:`Schedule` on a daemon ``threading.Timer``: works with no event loop at all.

    ``callback`` runs in the timer's own thread, so it must be thread-safe (``Outputs`` takes its lock).
    """
    timer = threading.Timer(delay_s, callback)
    timer.name = "edge-agent-auto-off"
    timer.daemon = True
    timer.start()
    return timer


class RelayRules:
    """Interlock groups and ``min_interval_s`` for relays; other kinds always pass.

    Thread: whichever holds the ``Outputs`` lock. Call :meth:`check` before a switch that changes
    the relay, :meth:`switched` after it. Switches to the safe state (exit, auto-off) are not checked
    but are recorded, so the next switch after them waits ``min_interval_s`` too.
    """

    def __init__(self, settings: Mapping[str, OutputSettings], clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._last_switch: dict[str, float] = {}

    def check(self, name: str, on: bool, is_on: Callable[[str], bool], *, interval: bool = True) -> None:
        """Raise :class:`OutputRefused` if switching relay ``name`` to ``on`` now breaks a rule.

        ``is_on`` reads another output's real state. ``interval=False`` skips ``min_interval_s``
        (used for a move to the safe state). Never blocks; changes nothing.
        """
        out = self._settings[name]
        if out.kind != "relay":
            return
        if on and out.interlock:
            for other, cfg in self._settings.items():
                if other != name and cfg.kind == "relay" and cfg.interlock == out.interlock and is_on(other):
                    raise OutputRefused(
                        f"{name} and {other} are interlocked (group {out.interlock!r}) and are never on "
                        f"together: {other} is on; switch {other} off first"
                    )
        last = self._last_switch.get(name)
        if interval and out.min_interval_s > 0 and last is not None:
            ago = self._clock() - last
            if ago < out.min_interval_s:
                raise OutputRefused(
                    f"{name} was switched {ago:.1f} s ago and may switch at most once every "
                    f"{out.min_interval_s:g} s (min_interval_s, no chattering): try again in "
                    f"{out.min_interval_s - ago:.1f} s"
                )

    def switched(self, name: str) -> None:
        """Record that ``name`` just changed state (for ``min_interval_s``)."""
        self._last_switch[name] = self._clock()


@dataclass(frozen=True, slots=True)
class AutoOffNote:
    """A relay that ``max_on_s`` switched off: when (``clock`` time) and after how long on."""

    at: float
    after_s: float


class AutoOff:
    """One timer per relay with ``max_on_s``: started when it goes on, stopped when it goes off.

    ``fire(name, token)`` is scheduled; the owner calls :meth:`claim` with the token under its lock
    and switches off only if it returns True, so a timer that was stopped, restarted or raced with a
    manual switch never switches anything. Thread: the owner's lock; ``fire`` runs in the scheduler's.
    """

    def __init__(self, schedule: Schedule, clock: Callable[[], float], fire: Callable[[str, int], None]) -> None:
        self._schedule = schedule
        self._clock = clock
        self._fire = fire
        self._tokens: dict[str, int] = {}
        self._handles: dict[str, Cancel] = {}
        self._deadlines: dict[str, float] = {}
        self.notes: dict[str, AutoOffNote] = {}
        """The last auto-off of each relay, until it is switched again by anything else."""

    def start(self, name: str, seconds: float) -> None:
        """(Re)start ``name``'s timer: it fires ``seconds`` from now unless stopped first."""
        self.stop(name)
        token = self._tokens[name]
        self._deadlines[name] = self._clock() + seconds
        self._handles[name] = self._schedule(seconds, lambda: self._fire(name, token))

    def stop(self, name: str) -> None:
        """Call ``name``'s timer off (if any); an already queued firing becomes stale. Idempotent."""
        self._tokens[name] = self._tokens.get(name, 0) + 1
        self._deadlines.pop(name, None)
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def claim(self, name: str, token: int) -> bool:
        """True (once) if the firing with ``token`` is current; the timer is then spent."""
        if self._tokens.get(name) != token or name not in self._deadlines:
            return False
        self._handles.pop(name, None)
        self._deadlines.pop(name, None)
        self._tokens[name] = token + 1
        return True

    def remaining(self, name: str) -> float | None:
        """Seconds until ``name`` switches off by itself, or None when no timer runs."""
        deadline = self._deadlines.get(name)
        return None if deadline is None else max(0.0, deadline - self._clock())

    def stop_all(self) -> None:
        """Call every timer off. Idempotent."""
        for name in list(self._handles):
            self.stop(name)
