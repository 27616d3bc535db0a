"""One driver per output kind over its gpiozero device: read what it shows, show a state.

Every driver has the same small surface (:meth:`Driver.read`, :meth:`Driver.show`,
:meth:`Driver.close`), so :class:`~edge_agent.hardware.gpio.Outputs` treats all kinds alike.
``read`` always asks the device (the pins), never a cached copy. The pin factory is injected:
``MockFactory(pin_class=MockPWMPin)`` in tests and the simulated backend.

Wiring (BCM numbering)::

    pwm_led: GPIO pin ── resistor ── LED ── GND; dimmed by software PWM at 100 Hz
    rgb_led: three GPIO pins (red, green, blue) ── resistors ── common-cathode LED ── GND
             (common anode: active_high = false, the common pin to 3.3 V)
    buzzer:  GPIO pin ── active buzzer (+), buzzer (-) ── GND (a transistor for more than ~15 mA)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gpiozero import LED, PWMLED, RGBLED, Buzzer, OutputDevice

from edge_agent.colors import RGB, parse_color, to_hex
from edge_agent.hardware.outputs_safety import OutputState
from edge_agent.settings import OutputSettings

BEEP_ON_S = 0.15
"""How long each beep sounds."""
BEEP_OFF_S = 0.15
"""The pause between beeps."""
WHITE: RGB = (1.0, 1.0, 1.0)


class Driver:
    """An on/off output (led, relay): ``gpiozero.LED`` or ``OutputDevice``. Thread: caller's lock."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def read(self) -> OutputState:
        """What the output shows now, read back from its pin."""
        return OutputState(on=bool(self.device.value))

    def on_state(self) -> OutputState:
        """The state ``set_output(name, true)`` shows when it is off now."""
        return OutputState(on=True)

    def off_state(self) -> OutputState:
        """The state of the output when off."""
        return OutputState(on=False)

    def show(self, state: OutputState) -> None:
        """Drive the pins to show ``state``. Stops any blinking or beeping. Never blocks."""
        if state.on:
            self.device.on()
        else:
            self.device.off()

    def close(self) -> None:
        """Release the pins (they go back to inputs). Idempotent."""
        self.device.close()


class BuzzerDriver(Driver):
    """A buzzer: on = sounding. :meth:`beep` sounds it ``times`` times in gpiozero's background thread."""

    def __init__(self, device: Any, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(device)
        self._clock = clock
        self._beep_until = 0.0

    def read(self) -> OutputState:
        """Sounding now, or in a beep sequence that has not finished."""
        if self._clock() < self._beep_until:
            return OutputState(on=True, beeping=True)
        return OutputState(on=bool(self.device.value))

    def show(self, state: OutputState) -> None:
        """Sound continuously or fall silent; either ends a beep sequence."""
        self._beep_until = 0.0
        super().show(state)

    def beep(self, times: int) -> float:
        """Start ``times`` beeps in the background and return at once; returns how long they take."""
        seconds = times * (BEEP_ON_S + BEEP_OFF_S)
        self.device.beep(on_time=BEEP_ON_S, off_time=BEEP_OFF_S, n=times, background=True)
        self._beep_until = self._clock() + seconds
        return seconds


class DimmerDriver(Driver):
    """A dimmable LED (``gpiozero.PWMLED``): brightness in percent; "on" restores the last level."""

    def __init__(self, device: Any) -> None:
        super().__init__(device)
        self._last = 100

    def read(self) -> OutputState:
        """On and brightness from the PWM duty cycle."""
        percent = round(float(self.device.value) * 100)
        return OutputState(on=percent > 0, brightness=percent)

    def on_state(self) -> OutputState:
        """The last level it was lit at (100 % at first)."""
        return OutputState(on=True, brightness=self._last)

    def off_state(self) -> OutputState:
        """Dark: 0 %."""
        return OutputState(on=False, brightness=0)

    def show(self, state: OutputState) -> None:
        """Set the duty cycle; a lit state is remembered as the level "on" comes back to."""
        percent = state.brightness if state.brightness is not None else (100 if state.on else 0)
        percent = percent if state.on else 0
        if percent > 0:
            self._last = percent
        self.device.value = percent / 100


class RgbDriver(Driver):
    """An RGB LED (``gpiozero.RGBLED``, PWM): a colour and a brightness; "on" restores the last of both."""

    def __init__(self, device: Any) -> None:
        super().__init__(device)
        self._last = OutputState(on=True, brightness=100, color=to_hex(WHITE))

    def read(self) -> OutputState:
        """Brightness is the brightest channel; colour is the channels scaled to full brightness."""
        red, green, blue = (float(c) for c in self.device.value)
        top = max(red, green, blue)
        percent = round(top * 100)
        if percent == 0:
            return OutputState(on=False, brightness=0)
        return OutputState(on=True, brightness=percent, color=to_hex((red / top, green / top, blue / top)))

    def on_state(self) -> OutputState:
        """The last colour and brightness it was lit with (white at 100 % at first)."""
        return self._last

    def off_state(self) -> OutputState:
        """Dark."""
        return OutputState(on=False, brightness=0)

    def show(self, state: OutputState) -> None:
        """Light the colour (``#rrggbb``, default the last one) at the brightness, or go dark."""
        percent = state.brightness if state.brightness is not None else 100
        if not state.on or percent <= 0:
            self.device.value = (0.0, 0.0, 0.0)
            return
        color = state.color or self._last.color or to_hex(WHITE)
        self._last = OutputState(on=True, brightness=percent, color=color)
        red, green, blue = parse_color(color)
        level = percent / 100
        self.device.value = (red * level, green * level, blue * level)


def make_driver(out: OutputSettings, pin_factory: Any) -> Driver:
    """Claim the pins of ``out`` and return its driver, showing its ``initial`` state (on: 100 %, white).

    Raises gpiozero's errors (pin in use, no PWM) for the caller to wrap.
    """
    common = {"active_high": out.active_high, "pin_factory": pin_factory}
    driver: Driver
    if out.kind == "pwm_led":
        driver = DimmerDriver(PWMLED(out.pin, initial_value=1 if out.initial else 0, **common))
    elif out.kind == "rgb_led":
        red, green, blue = out.pins
        driver = RgbDriver(RGBLED(red, green, blue, initial_value=WHITE if out.initial else (0, 0, 0), **common))
    elif out.kind == "buzzer":
        driver = BuzzerDriver(Buzzer(out.pin, initial_value=out.initial, **common))
    else:
        cls = LED if out.kind == "led" else OutputDevice
        driver = Driver(cls(out.pin, initial_value=out.initial, **common))
    return driver
