"""GPIO outputs (LEDs, dimmable and RGB LEDs, relays, buzzers) and the button, through gpiozero.

Devices are named after the physical things in ``[[outputs]]``. The pin factory is
injected: gpiozero's default (lgpio on a Pi 5, see ``GPIOZERO_PIN_FACTORY``) on a Pi,
``MockFactory(pin_class=MockPWMPin)`` for the simulated backend and the tests.

Wiring (BCM numbering)::

    LED:    GPIO pin ── resistor (330 Ω) ── LED anode, LED cathode ── GND   (active_high = true)
    relay:  GPIO pin ── relay board IN (most boards are active-low: active_high = false)
    button: GPIO pin ── push button ── GND (internal pull-up: pull_up = true)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from gpiozero import Button
from gpiozero.exc import GPIOZeroError

from edge_agent.colors import describe, parse_color, to_hex
from edge_agent.errors import HardwareError
from edge_agent.hardware.output_devices import BuzzerDriver, Driver, make_driver
from edge_agent.hardware.outputs_safety import (
    AutoOff,
    AutoOffNote,
    OutputRefused,
    OutputState,
    RelayRules,
    Schedule,
    thread_schedule,
)
from edge_agent.settings import ButtonSettings, OutputSettings

_LOGGER = logging.getLogger(__name__)

OutputChanged = Callable[[str, int, bool], None]
"""Called with (output name, BCM pin, new state) after an output's pin changed."""


class Outputs:
    """The configured outputs, switched by name within the safety rules, read back from their pins.

    Thread: any; one lock serialises every method, so the event loop, an auto-off timer and an
    ``atexit`` or signal handler may all call in. Nothing blocks longer than a few pin writes
    (a beep runs in gpiozero's background thread).

    Every output starts in its ``initial`` state. Relays obey ``interlock`` and ``min_interval_s``
    (a refused switch raises :class:`OutputRefused` and changes nothing) and switch off by
    themselves after ``max_on_s``, timed by ``schedule`` (``loop.call_later`` in the daemon; by
    default a ``threading.Timer``, which needs no event loop). :meth:`to_safe_state` and
    :meth:`close` leave every output in its configured ``safe`` state.

    ``on_change(name, pin, on)`` runs, under the lock, whenever an output goes on or off (not for a
    brightness or colour change of a lit output, nor for each beep); ``pin`` is an rgb_led's red pin.
    """

    def __init__(
        self,
        settings: Sequence[OutputSettings],
        *,
        pin_factory: Any = None,
        on_change: OutputChanged | None = None,
        schedule: Schedule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = {o.name: o for o in settings}
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.RLock()
        self._final = False
        self._drivers: dict[str, Driver] = {}
        self._rules = RelayRules(self._settings, clock)
        self._auto = AutoOff(schedule or thread_schedule, clock, self._auto_off_fired)
        for o in settings:
            if problems := o.problems():
                raise ValueError(
                    f"output {o.name!r}: " + "; ".join(f"{k}: expected {e}, found {f}" for k, e, f in problems)
                )
        try:
            for o in settings:
                self._drivers[o.name] = make_driver(o, pin_factory)
                _LOGGER.info("output %s (%s, %s) ready: %s", o.name, o.kind, _pins(o), _word(o.initial))
                self._notify(o.name)
                if o.initial and o.kind == "relay":
                    self._rules.check(o.name, True, self._is_on, interval=False)
                    if o.max_on_s > 0:
                        self._auto.start(o.name, o.max_on_s)
        except GPIOZeroError as e:
            self.close()
            raise HardwareError(f"cannot claim GPIO for output {o.name!r} ({_pins(o)}): {e}") from e
        except OutputRefused as e:
            self.close()
            raise ValueError(f"output {o.name!r}: initial = true breaks a rule: {e}") from e

    def names(self) -> list[str]:
        """Configured output names, in config order."""
        return list(self._settings)

    def settings(self, name: str) -> OutputSettings:
        """The configuration of output ``name`` (KeyError if unknown)."""
        return self._settings[name]

    def read(self, name: str) -> OutputState:
        """What output ``name`` shows now, read back from its pins (KeyError if unknown)."""
        with self._lock:
            return self._drivers[name].read()

    def state(self, name: str) -> bool:
        """The output's real state, read back from its pins (True = on)."""
        return self.read(name).on

    def snapshot(self) -> dict[str, bool]:
        """All outputs' real on/off states, in config order."""
        with self._lock:
            return {name: driver.read().on for name, driver in self._drivers.items()}

    def set(self, name: str, on: bool) -> bool:
        """Switch ``name`` on or off; True if what it shows changed. Idempotent.

        On is the last level (pwm_led) or colour and level (rgb_led) it was lit with, at first 100 %
        and white; an output that is on already stays as it is. Raises OutputRefused (nothing changed).
        """
        with self._lock:
            driver = self._open(name)
            if driver.read().on == on:
                return False
            return self._apply(name, driver.on_state() if on else driver.off_state())

    def set_brightness(self, name: str, percent: float) -> bool:
        """Dim a pwm_led or rgb_led to ``percent`` (0..100, rounded; 0 = off); True if it changed.

        An rgb_led keeps its colour (off: the last one). Raises OutputRefused for other kinds.
        """
        with self._lock:
            driver = self._open(name, "pwm_led", "rgb_led")
            level = round(min(100.0, max(0.0, percent)))
            if level == 0:
                return self._apply(name, driver.off_state())
            now = driver.read()
            return self._apply(name, OutputState(True, level, now.color or driver.on_state().color))

    def set_color(self, name: str, color: str) -> bool:
        """Light an rgb_led in ``color`` (a name or ``#rrggbb``, see :mod:`edge_agent.colors`).

        Keeps the brightness it is lit at (off: the last one). True if it changed. Raises ValueError
        for an unknown colour, OutputRefused for other kinds.
        """
        with self._lock:
            driver = self._open(name, "rgb_led")
            hex_code = to_hex(parse_color(color))
            now = driver.read()
            level = now.brightness if now.on else driver.on_state().brightness
            return self._apply(name, OutputState(True, level, hex_code))

    def beep(self, name: str, times: int) -> float:
        """Sound buzzer ``name`` ``times`` times in the background; returns at once with the seconds it takes.

        Beeping again restarts the sequence. Raises OutputRefused for other kinds.
        """
        with self._lock:
            driver = self._open(name, "buzzer")
            assert isinstance(driver, BuzzerDriver)
            seconds = driver.beep(times)
            self._auto.notes.pop(name, None)
            _LOGGER.info("output %s (%s) -> beeping %d times", name, _pins(self._settings[name]), times)
            return seconds

    def restore(self, name: str, state: OutputState) -> bool:
        """Show ``state`` again (undoing a tool call); True if it changed.

        Interlocks always apply; ``min_interval_s`` only when ``state`` is not the safe state. A beep
        sequence is not restarted (restored as off). Raises OutputRefused (nothing changed).
        """
        with self._lock:
            self._open(name)
            if state.beeping:
                state = OutputState(on=False)
            return self._apply(name, state, interval=state.on != self._settings[name].safe)

    def report(self, name: str) -> dict[str, Any]:
        """What ``name`` shows, JSON-ready for the model.

        ``on``, plus whichever apply of ``brightness``, ``color``, ``beeping``, ``auto_off_in_s`` (a relay's
        running timer) and ``auto_off`` (its last auto-off, until it is switched again).
        """
        with self._lock:
            now = self._drivers[name].read()
            out: dict[str, Any] = {"on": now.on}
            if now.brightness is not None:
                out["brightness"] = now.brightness
            if now.color is not None:
                out["color"] = describe(now.color)
            if now.beeping:
                out["beeping"] = True
            if (remaining := self._auto.remaining(name)) is not None:
                out["auto_off_in_s"] = round(remaining, 1)
            if (note := self._auto.notes.get(name)) is not None:
                ago = self._clock() - note.at
                out["auto_off"] = f"switched off by itself {ago:.0f} s ago, after {note.after_s:g} s on (max_on_s)"
            return out

    def to_safe_state(self) -> None:
        """Drive every output to its configured safe state and refuse every switch after it.

        Thread: any, no event loop needed (an ``atexit`` or signal handler may call it). Idempotent.
        Waits at most 2 s for a switch in progress, then acts anyway. Stops auto-off timers and
        beeping. After calling: :meth:`close` releases the pins.
        """
        locked = self._lock.acquire(timeout=2.0)
        if not locked:
            _LOGGER.warning("outputs busy for 2 s: forcing the safe state anyway")
        try:
            self._final = True
            self._auto.stop_all()
            for name, driver in list(self._drivers.items()):
                try:
                    self._drive_safe(name, driver)
                except Exception:  # keep going: every other output must still reach its safe state
                    _LOGGER.exception("could not put output %s in its safe state", name)
        finally:
            if locked:
                self._lock.release()

    def close(self) -> None:
        """Put every output in its safe state, then release the pins. Idempotent."""
        self.to_safe_state()
        with self._lock:
            for name, driver in list(self._drivers.items()):
                try:
                    driver.close()
                except Exception:  # releasing the others matters more than this one's error
                    _LOGGER.exception("could not release output %s", name)
            self._drivers.clear()

    # ------------------------------------------------------------------ internals (lock held)

    def _open(self, name: str, *kinds: str) -> Driver:
        if self._final:
            raise OutputRefused("the outputs are shutting down and stay in their safe state")
        driver = self._drivers[name]
        kind = self._settings[name].kind
        if kinds and kind not in kinds:
            raise OutputRefused(f"{name} is a {kind}: only a {' or '.join(kinds)} can do that")
        return driver

    def _apply(self, name: str, target: OutputState, *, interval: bool = True) -> bool:
        driver = self._drivers[name]
        before = driver.read()
        if before == target:
            return False
        if before.on != target.on:
            self._rules.check(name, target.on, self._is_on, interval=interval)
        driver.show(target)
        return self._switched(name, before, driver.read())

    def _switched(self, name: str, before: OutputState, after: OutputState) -> bool:
        out = self._settings[name]
        self._auto.notes.pop(name, None)
        if before.on != after.on:
            self._rules.switched(name)
            if after.on and out.max_on_s > 0:
                self._auto.start(name, out.max_on_s)
            elif not after.on:
                self._auto.stop(name)
            self._notify(name)
        if after != before:
            _LOGGER.info("output %s (%s) -> %s", name, _pins(out), after.describe())
        return after != before

    def _drive_safe(self, name: str, driver: Driver) -> None:
        out = self._settings[name]
        target = driver.off_state()
        if out.safe:
            target = OutputState(
                True, 100 if target.brightness is not None else None, _WHITE if out.kind == "rgb_led" else None
            )
        before = driver.read()
        if before != target:
            driver.show(target)
            self._rules.switched(name)
            _LOGGER.info("output %s (%s) -> %s (safe state)", name, _pins(out), target.describe())
            if before.on != target.on:
                self._notify(name)

    def _auto_off_fired(self, name: str, token: int) -> None:
        """Runs in the scheduler's context (a timer thread or the event loop)."""
        try:
            with self._lock:
                if self._final or not self._auto.claim(name, token):
                    return
                out, driver = self._settings[name], self._drivers[name]
                if driver.read().on:
                    driver.show(driver.off_state())
                    self._rules.switched(name)
                    self._notify(name)
                self._auto.notes[name] = AutoOffNote(self._clock(), out.max_on_s)
                _LOGGER.info("output %s (%s) -> off by itself after %g s on (max_on_s)", name, _pins(out), out.max_on_s)
        except Exception:  # a timer thread has nobody to raise to
            _LOGGER.exception("auto-off of output %s failed", name)

    def _is_on(self, name: str) -> bool:
        driver = self._drivers.get(name)
        return driver is not None and driver.read().on

    def _notify(self, name: str) -> None:
        if self._on_change is not None:
            out = self._settings[name]
            self._on_change(name, out.pin, self._drivers[name].read().on)


ButtonEvent = Callable[[str], None]
"""Called with ``"pressed"``, ``"released"`` or ``"held"`` (held for ``mute_hold_s``)."""


class ButtonInput:
    """The push button, debounced by gpiozero: pressed, released, and held for ``mute_hold_s``.

    ``on_event`` runs in a gpiozero thread (``"held"`` in its hold thread): it must only
    bridge into the event loop (``loop.call_soon_threadsafe``), nothing else.
    """

    def __init__(self, settings: ButtonSettings, on_event: ButtonEvent, *, pin_factory: Any = None) -> None:
        assert settings.pin is not None
        self.pin = settings.pin
        self.pull_up = settings.pull_up
        try:
            self._button = Button(
                settings.pin,
                pull_up=settings.pull_up,
                bounce_time=settings.bounce_ms / 1000 or None,
                hold_time=settings.mute_hold_s,
                pin_factory=pin_factory,
            )
        except GPIOZeroError as e:
            raise HardwareError(f"cannot claim GPIO for the button (BCM {settings.pin}): {e}") from e
        self._button.when_pressed = lambda: on_event("pressed")
        self._button.when_released = lambda: on_event("released")
        self._button.when_held = lambda: on_event("held")
        _LOGGER.info("button ready on BCM %d", settings.pin)

    def close(self) -> None:
        """Release the pin. Idempotent."""
        self._button.when_pressed = self._button.when_released = self._button.when_held = None
        self._button.close()


class SwitchInput:
    """A latching switch (the hardware mute): ``on_change(True)`` when it closes, False when it opens.

    Callbacks run in a gpiozero thread and must only bridge into the event loop. Read
    :attr:`closed` once at start: the switch may already be in the mute position.
    """

    def __init__(self, pin: int, pull_up: bool, on_change: Callable[[bool], None], *, pin_factory: Any = None) -> None:
        self.pin = pin
        try:
            self._switch = Button(pin, pull_up=pull_up, bounce_time=0.05, pin_factory=pin_factory)
        except GPIOZeroError as e:
            raise HardwareError(f"cannot claim GPIO for the mute switch (BCM {pin}): {e}") from e
        self._switch.when_pressed = lambda: on_change(True)
        self._switch.when_released = lambda: on_change(False)
        _LOGGER.info("mute switch ready on BCM %d (%s)", pin, "mute" if self.closed else "open")

    @property
    def closed(self) -> bool:
        """True while the switch is in the mute position."""
        return bool(self._switch.is_pressed)

    def close(self) -> None:
        """Release the pin. Idempotent."""
        self._switch.when_pressed = self._switch.when_released = None
        self._switch.close()


def _word(on: bool) -> str:
    return "on" if on else "off"


_WHITE = "#ffffff"


def _pins(out: OutputSettings) -> str:
    """``BCM 17``, or ``BCM 5/6/13`` for an rgb_led."""
    return "BCM " + "/".join(str(pin) for _, pin in out.pin_keys(""))
