"""Status-light drivers: one LED, an RGB LED or an APA102 chain, and the camera privacy LED.

What to show comes from :mod:`edge_agent.lights` (a :class:`~edge_agent.lights.LightPattern`); a
driver only renders it. Each status driver owns one thread (:mod:`edge_agent.hardware.animator`) that
draws a pattern once when it changes and, while it is animated (pulse, blink, spin), every ``1 / FPS`` s;
the event loop never waits on a light. ``show`` is thread-safe and idempotent (the same pattern again
changes nothing, and does not restart its animation); ``close`` stops the thread and leaves every
light dark. A light that fails while drawing is logged once and never stops the daemon.

Wiring (BCM numbering)::

    led:      GPIO pin ── resistor (330 Ω) ── LED anode, cathode ── GND        (active_high = true)
    rgb_led:  three GPIO pins ── resistors ── common-cathode RGB LED ── GND     (common anode: false)
    apa102:   SPI MOSI (BCM 10) ── DI, SCLK (BCM 11) ── CI, 5 V and GND; dtparam=spi=on
    privacy:  GPIO pin ── resistor ── LED ── GND (always active high)

The pin factory is injected (``MockFactory(pin_class=MockPWMPin)`` in tests and the simulated
backend); the SPI transfer is injected too (a recording function in tests), else ``spidev``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from gpiozero import LED, PWMLED, RGBLED
from gpiozero.exc import GPIOZeroError, PinPWMUnsupported

from edge_agent.errors import HardwareError
from edge_agent.hardware.animator import FPS, PatternDriver
from edge_agent.hardware.apa102 import Apa102, Transfer, apa102_frame, open_spi
from edge_agent.lights import RGB, LightPattern, Lights, frame_at, intensity_at
from edge_agent.settings import LightsSettings

__all__ = [
    "FPS",
    "Apa102",
    "PrivacyLed",
    "RgbLed",
    "SingleLed",
    "StatusDriver",
    "StatusLights",
    "Transfer",
    "apa102_frame",
    "open_lights",
    "open_spi",
]

_LOGGER = logging.getLogger(__name__)


class StatusDriver(Protocol):
    """Renders the status pattern. ``show`` from any thread; ``close`` once, at the end."""

    def show(self, pattern: LightPattern) -> None:
        """Show ``pattern`` from now on. Thread-safe, never blocks, idempotent."""

    def close(self) -> None:
        """Stop animating, go dark, release the device. Idempotent."""


class SingleLed(PatternDriver):
    """One LED (gpiozero ``PWMLED``; plain ``LED`` on/off where the pins cannot do PWM).

    A single color shows each pattern's :meth:`~edge_agent.lights.LightPattern.for_mono` form.
    """

    def __init__(
        self, pin: int, *, active_high: bool = True, brightness: float = 1.0, pin_factory: Any = None, fps: float = FPS
    ) -> None:
        self.pin = pin
        self._brightness = brightness
        try:
            try:
                self._device: Any = PWMLED(pin, active_high=active_high, initial_value=0, pin_factory=pin_factory)
                self._pwm = True
            except PinPWMUnsupported:
                self._device = LED(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)
                self._pwm = False
        except GPIOZeroError as e:
            raise HardwareError(f"cannot claim GPIO for the status LED (BCM {pin}): {e}") from e
        super().__init__(f"lights-led-{pin}", fps)

    def _current(self) -> LightPattern:
        return self._pattern.for_mono()

    def _value_at(self, pattern: LightPattern, t: float) -> float:
        k = intensity_at(pattern, t)
        if not self._pwm:
            return 1.0 if k >= 0.5 and self._brightness > 0 else 0.0
        return round(k * self._brightness, 4)

    def _write(self, value: float) -> None:
        self._device.value = value

    def _write_off(self) -> None:
        self._device.off()

    def _release(self) -> None:
        self._device.close()


class RgbLed(PatternDriver):
    """An RGB LED on three pins (gpiozero ``RGBLED``, PWM where the pins can do it)."""

    def __init__(
        self,
        pins: Sequence[int],
        *,
        active_high: bool = True,
        brightness: float = 1.0,
        pin_factory: Any = None,
        fps: float = FPS,
    ) -> None:
        red, green, blue = pins
        self.pins = (red, green, blue)
        self._brightness = brightness
        try:
            try:
                self._device: Any = RGBLED(red, green, blue, active_high=active_high, pin_factory=pin_factory)
                self._pwm = True
            except PinPWMUnsupported:
                self._device = RGBLED(red, green, blue, active_high=active_high, pwm=False, pin_factory=pin_factory)
                self._pwm = False
        except GPIOZeroError as e:
            raise HardwareError(f"cannot claim GPIO for the RGB status LED (BCM {red}, {green}, {blue}): {e}") from e
        super().__init__(f"lights-rgb-{red}", fps)

    def _value_at(self, pattern: LightPattern, t: float) -> RGB:
        r, g, b = frame_at(pattern, t, 1)[0]
        if not self._pwm:
            return (float(r >= 0.5), float(g >= 0.5), float(b >= 0.5)) if self._brightness > 0 else (0.0, 0.0, 0.0)
        s = self._brightness
        return (round(r * s, 4), round(g * s, 4), round(b * s, 4))

    def _write(self, value: RGB) -> None:
        self._device.value = value

    def _write_off(self) -> None:
        self._device.off()

    def _release(self) -> None:
        self._device.close()


class PrivacyLed:
    """The privacy LED on its own pin (gpiozero ``LED``, active high): on while frames may be sent."""

    def __init__(self, pin: int, *, pin_factory: Any = None) -> None:
        self.pin = pin
        try:
            self._device = LED(pin, initial_value=False, pin_factory=pin_factory)
        except GPIOZeroError as e:
            raise HardwareError(f"cannot claim GPIO for the privacy LED (BCM {pin}): {e}") from e
        self._closed = False

    def set(self, on: bool) -> None:
        """On or off. Thread-safe (gpiozero), idempotent."""
        if not self._closed:
            self._device.value = on

    def close(self) -> None:
        """Off, then release the pin. Idempotent."""
        if not self._closed:
            self._closed = True
            self._device.off()
            self._device.close()


class StatusLights:
    """All the configured lights: a status driver (or none) and the privacy light (or none).

    :meth:`show` takes what :mod:`edge_agent.lights` decided. Thread: the event loop (any thread is
    safe). :meth:`close` runs on every exit path and leaves everything dark.
    """

    def __init__(self, status: StatusDriver | None = None, privacy: PrivacyLed | Apa102 | None = None) -> None:
        self.status = status
        self.privacy = privacy
        self.shown: Lights | None = None
        """What was last shown (None: nothing yet)."""

    def show(self, lights: Lights) -> None:
        """Show ``lights``. Never blocks; idempotent."""
        if lights == self.shown:
            return
        self.shown = lights
        _LOGGER.debug("lights: %s%s", lights.state.value, ", privacy light on" if lights.privacy else "")
        if self.status is not None:
            self.status.show(lights.status)
        if isinstance(self.privacy, Apa102):
            self.privacy.set_privacy(lights.privacy)
        elif self.privacy is not None:
            self.privacy.set(lights.privacy)

    def close(self) -> None:
        """Every light dark, every device released. Idempotent; a failing light does not stop the others."""
        for device in (self.status, self.privacy):
            if device is None:
                continue
            try:
                device.close()
            except Exception:  # keep going: the other light must still go dark
                _LOGGER.exception("could not switch a light off")
        self.status = self.privacy = None


def open_lights(
    settings: LightsSettings,
    *,
    camera_enabled: bool,
    pin_factory: Any = None,
    transfer: Transfer | None = None,
    fps: float = FPS,
) -> StatusLights:
    """Open the lights ``settings`` describe. Raises HardwareError (pins taken, no SPI).

    ``camera_enabled``: frames can ever be sent (``camera.backend != "off"``); only then does an apa102
    chain without ``privacy_pin`` reserve its last pixel for the privacy light. ``transfer`` replaces
    spidev for apa102 (tests, the simulated backend).
    """
    brightness = settings.brightness / 100
    status: StatusDriver | None = None
    privacy: PrivacyLed | Apa102 | None = None
    try:
        if settings.kind == "led" and settings.pin is not None:
            status = SingleLed(
                settings.pin, active_high=settings.active_high, brightness=brightness, pin_factory=pin_factory, fps=fps
            )
        elif settings.kind == "rgb_led":
            status = RgbLed(
                settings.pins, active_high=settings.active_high, brightness=brightness, pin_factory=pin_factory, fps=fps
            )
        elif settings.kind == "apa102":
            release = None
            if transfer is None:
                transfer, release = open_spi(settings.spi_bus, settings.spi_device)
            reserve = camera_enabled and settings.privacy_pin is None and settings.apa102_pixels >= 2
            status = Apa102(
                transfer,
                pixels=settings.apa102_pixels,
                brightness=brightness,
                reserve_privacy_pixel=reserve,
                release=release,
                fps=fps,
            )
            if reserve:
                privacy = status
        if settings.privacy_pin is not None:
            privacy = PrivacyLed(settings.privacy_pin, pin_factory=pin_factory)
    except BaseException:
        if status is not None:
            status.close()
        raise
    if camera_enabled and privacy is None:
        _LOGGER.warning(
            "the camera is on but there is no privacy light: set lights.privacy_pin (or use an apa102 ring)"
        )
    if settings.kind != "none":
        _LOGGER.info("status lights: %s", settings.kind)
    return StatusLights(status, privacy)
