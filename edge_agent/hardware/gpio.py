"""GPIO outputs (LEDs, relays) and the button, through gpiozero.

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
from collections.abc import Callable, Sequence
from typing import Any

from gpiozero import LED, Button, OutputDevice
from gpiozero.exc import GPIOZeroError

from edge_agent.errors import HardwareError
from edge_agent.settings import ButtonSettings, OutputSettings

_LOGGER = logging.getLogger(__name__)

OutputChanged = Callable[[str, int, bool], None]
"""Called with (output name, BCM pin, new state) after an output's pin changed."""


class Outputs:
    """The configured outputs, switched by name. Thread: event loop only.

    Every output starts in its ``initial`` state and goes back to off (its safe
    state) in :meth:`close`, which runs on every exit path of the daemon.
    """

    def __init__(
        self,
        settings: Sequence[OutputSettings],
        *,
        pin_factory: Any = None,
        on_change: OutputChanged | None = None,
    ) -> None:
        self._settings = {o.name: o for o in settings}
        self._on_change = on_change
        self._devices: dict[str, OutputDevice] = {}
        try:
            for o in settings:
                cls = LED if o.kind == "led" else OutputDevice
                self._devices[o.name] = cls(
                    o.pin, active_high=o.active_high, initial_value=o.initial, pin_factory=pin_factory
                )
                _LOGGER.info("output %s (%s, BCM %d) ready: %s", o.name, o.kind, o.pin, _word(o.initial))
                self._notify(o.name)
        except GPIOZeroError as e:
            self.close()
            raise HardwareError(f"cannot claim GPIO for output {o.name!r} (BCM {o.pin}): {e}") from e

    def names(self) -> list[str]:
        """Configured output names, in config order."""
        return list(self._settings)

    def settings(self, name: str) -> OutputSettings:
        """The configuration of output ``name`` (KeyError if unknown)."""
        return self._settings[name]

    def state(self, name: str) -> bool:
        """The output's real state, read back from its pin (True = on)."""
        return bool(self._devices[name].value)

    def set(self, name: str, on: bool) -> bool:
        """Switch output ``name``; returns True if the pin changed. Idempotent."""
        device = self._devices[name]
        before = bool(device.value)
        if on:
            device.on()
        else:
            device.off()
        changed = bool(device.value) != before
        if changed:
            o = self._settings[name]
            _LOGGER.info("output %s (BCM %d) -> %s", name, o.pin, _word(on))
            self._notify(name)
        return changed

    def snapshot(self) -> dict[str, bool]:
        """All outputs' real states."""
        return {name: self.state(name) for name in self._devices}

    def close(self) -> None:
        """Put every output in its safe state (off), then release the pins. Idempotent."""
        for name, device in list(self._devices.items()):
            try:
                if device.value:
                    device.off()
                    _LOGGER.info("output %s (BCM %d) -> off (safe state)", name, self._settings[name].pin)
                    self._notify(name)
                device.close()
            except Exception:  # keep going: every other output must still reach its safe state
                _LOGGER.exception("could not put output %s in its safe state", name)
        self._devices.clear()

    def _notify(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name, self._settings[name].pin, bool(self._devices[name].value))


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
