"""Status-light drivers on gpiozero's MockFactory (PWM pins) and a recording SPI transfer."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from edge_agent.errors import HardwareError
from edge_agent.hardware.lights import (
    Apa102,
    PrivacyLed,
    RgbLed,
    SingleLed,
    apa102_frame,
    open_lights,
)
from edge_agent.lights import OFF, PATTERNS, Effect, LightPattern, Lights, LightState
from edge_agent.settings import LightsSettings

SCALE = float(os.environ.get("EDGE_AGENT_TEST_TIME_SCALE", "1"))
LISTENING = PATTERNS[LightState.LISTENING]  # solid (0, 64, 255), level 1
DARK_PIXEL = [0xE0, 0, 0, 0]


def eventually(predicate: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout * SCALE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def light_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("lights-")]


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    pins = MockFactory(pin_class=MockPWMPin)
    yield pins
    pins.close()
    pins.reset()
    assert light_threads() == []


class Recorder:
    """An SPI transfer that keeps every frame written."""

    def __init__(self, *, fail: bool = False) -> None:
        self.frames: list[list[int]] = []
        self.released = 0
        self.fail = fail

    def __call__(self, data: list[int]) -> None:
        if self.fail:
            raise OSError("SPI gone")
        self.frames.append(list(data))

    def release(self) -> None:
        self.released += 1


# --- the APA102 frame format --------------------------------------------------------------------------------


def test_apa102_frame_is_start_frame_pixels_brightness_bgr_end_frame() -> None:
    pixels = [((1.0, 0.0, 0.0), 1.0), ((0.0, 64 / 255, 1.0), 0.5), ((0.0, 0.0, 0.0), 1.0)]
    assert apa102_frame(pixels) == [
        *[0x00, 0x00, 0x00, 0x00],  # start frame: 32 zero bits
        *[0b1111_1111, 0, 0, 255],  # 0b111 + brightness 31, then blue, green, red
        *[0b1111_0000, 255, 64, 0],  # brightness 50 % of 31, rounded up: 16
        *[0b1110_0000, 0, 0, 0],  # a dark pixel
        *[0x00, 0x00, 0x00, 0x00],  # end frame
    ]


def test_apa102_end_frame_grows_with_the_chain() -> None:
    for count, end in ((3, 4), (64, 4), (65, 5), (100, 7)):
        frame = apa102_frame([((0.0, 0.0, 0.0), 0.0)] * count)
        assert len(frame) == 4 + 4 * count + end, count


def test_apa102_shows_a_pattern_exactly_once_and_close_leaves_it_dark() -> None:
    spi = Recorder()
    ring = Apa102(spi, pixels=3, brightness=0.5, release=spi.release)
    expected = [0, 0, 0, 0, *[0xF0, 255, 64, 0] * 3, 0, 0, 0, 0]
    ring.show(LISTENING)
    eventually(lambda: spi.frames[-1:] == [expected], "the listening frame")
    ring.show(LISTENING)  # idempotent: nothing is redrawn
    time.sleep(0.1)
    assert spi.frames == [expected]
    ring.close()
    ring.close()
    assert spi.frames[-1] == [0, 0, 0, 0, *DARK_PIXEL * 3, 0, 0, 0, 0]
    assert spi.released == 1
    assert light_threads() == []


def test_apa102_reserved_pixel_is_the_privacy_light() -> None:
    spi = Recorder()
    ring = Apa102(spi, pixels=3, brightness=0.5, reserve_privacy_pixel=True)
    try:
        ring.show(LISTENING)
        eventually(lambda: spi.frames[-1:] == [[0] * 4 + [0xF0, 255, 64, 0] * 2 + DARK_PIXEL + [0] * 4], "status")
        ring.set_privacy(True)
        eventually(lambda: spi.frames[-1][12:16] == [0xFF, 0, 255, 0], "a full green privacy pixel")
        ring.set_privacy(False)
        eventually(lambda: spi.frames[-1][12:16] == DARK_PIXEL, "the privacy pixel dark again")
    finally:
        ring.close()


def test_apa102_animates_a_spin_in_its_own_thread() -> None:
    spi = Recorder()
    ring = Apa102(spi, pixels=3, fps=50)
    try:
        ring.show(PATTERNS[LightState.THINKING])
        eventually(lambda: len({tuple(f) for f in spi.frames}) >= 5, "several distinct spin frames")
        assert any(t.name == "lights-apa102" for t in threading.enumerate())
    finally:
        ring.close()


def test_a_failing_light_is_logged_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    spi = Recorder(fail=True)
    ring = Apa102(spi, pixels=3, fps=50)
    ring.show(PATTERNS[LightState.THINKING])
    eventually(lambda: "failed to draw" in caplog.text, "the failure in the log")
    time.sleep(0.1)
    assert caplog.text.count("failed to draw") == 1
    with pytest.raises(OSError):
        ring.close()  # going dark is attempted, and its failure is the caller's to see
    assert light_threads() == []


# --- gpiozero LEDs ------------------------------------------------------------------------------------------


def test_single_led_dims_to_the_brightness_blinks_when_muted_and_closes_dark(factory: MockFactory) -> None:
    led = SingleLed(18, brightness=0.5, pin_factory=factory)
    pin = factory.pin(18)
    led.show(LISTENING)
    eventually(lambda: pin.state == pytest.approx(0.5), "half brightness")
    led.show(PATTERNS[LightState.MUTED])  # a single LED winks instead of showing red
    eventually(lambda: pin.state == 0, "the wink's off part")
    led.show(PATTERNS[LightState.STANDBY])
    eventually(lambda: pin.state == pytest.approx(0.05), "the dim standby glow")
    led.close()
    led.close()
    assert pin.state == 0
    LED(18, pin_factory=factory).close()  # the pin was released


def test_single_led_without_pwm_is_on_or_off() -> None:
    factory = MockFactory(pin_class=MockPin)
    try:
        led = SingleLed(18, pin_factory=factory)
        pin = factory.pin(18)
        led.show(LISTENING)
        eventually(lambda: pin.state == 1, "on")
        led.show(PATTERNS[LightState.STANDBY])  # 10 %: too dim for on/off, so off
        eventually(lambda: pin.state == 0, "off")
        led.close()
    finally:
        factory.close()
        factory.reset()


def test_single_led_pulses(factory: MockFactory) -> None:
    led = SingleLed(18, pin_factory=factory, fps=50)
    pin = factory.pin(18)
    try:
        led.show(LightPattern((255, 255, 255), Effect.PULSE, 0.4))
        eventually(lambda: len({round(s.state, 2) for s in pin.states}) >= 5, "a range of pulse levels")
    finally:
        led.close()
    assert pin.state == 0


def test_rgb_led_shows_the_color_scaled_by_brightness(factory: MockFactory) -> None:
    led = RgbLed((5, 6, 13), brightness=0.5, pin_factory=factory)
    red, green, blue = (factory.pin(n) for n in (5, 6, 13))
    led.show(LISTENING)
    eventually(lambda: blue.state == pytest.approx(0.5), "blue")
    assert (red.state, green.state) == (0, pytest.approx(round(64 / 255 * 0.5, 4)))
    led.close()
    assert (red.state, green.state, blue.state) == (0, 0, 0)


def test_common_anode_rgb_led_is_driven_low_to_light(factory: MockFactory) -> None:
    led = RgbLed((5, 6, 13), active_high=False, pin_factory=factory)
    red = factory.pin(5)
    assert red.state == 1  # dark: the common anode sees no current
    led.show(PATTERNS[LightState.AUTH_ERROR])  # red blink, starting on
    eventually(lambda: red.state == 0, "red on (pin low)")
    led.close()
    assert [s.state for s in red.states][-2:] == [1, 0]  # driven dark (high), then released (input)
    assert red.function == "input"


def test_an_active_low_led_is_switched_dark_before_its_pin_is_released(factory: MockFactory) -> None:
    led = SingleLed(18, active_high=False, pin_factory=factory)
    pin = factory.pin(18)
    led.show(LISTENING)
    eventually(lambda: pin.state == 0, "on (pin low)")
    led.close()
    assert [s.state for s in pin.states][-2:] == [1, 0]


def test_privacy_led(factory: MockFactory) -> None:
    led = PrivacyLed(26, pin_factory=factory)
    pin = factory.pin(26)
    led.set(True)
    assert pin.state == 1
    led.set(True)
    led.close()
    led.close()
    assert pin.state == 0


# --- all of them ------------------------------------------------------------------------------------------


def test_status_lights_route_status_and_privacy_and_close_everything(factory: MockFactory) -> None:
    settings = LightsSettings(kind="led", pin=18, privacy_pin=26, brightness=100)
    lights = open_lights(settings, camera_enabled=True, pin_factory=factory)
    status_pin, privacy_pin = factory.pin(18), factory.pin(26)
    lights.show(Lights(LightState.LISTENING, LISTENING, privacy=True))
    eventually(lambda: status_pin.state == 1, "the status LED")
    assert privacy_pin.state == 1
    lights.show(Lights(LightState.MUTED, PATTERNS[LightState.MUTED], privacy=False))
    assert privacy_pin.state == 0
    lights.close()
    lights.close()
    assert (status_pin.state, privacy_pin.state) == (0, 0)


def test_an_apa102_ring_without_privacy_pin_reserves_a_pixel_only_with_a_camera() -> None:
    spi = Recorder()
    with_camera = open_lights(LightsSettings(kind="apa102"), camera_enabled=True, transfer=spi)
    assert isinstance(with_camera.status, Apa102) and with_camera.status.reserve_privacy_pixel
    assert with_camera.privacy is with_camera.status
    with_camera.show(Lights(LightState.STANDBY, PATTERNS[LightState.STANDBY], privacy=True))
    eventually(lambda: bool(spi.frames) and spi.frames[-1][12:16] == [0xFF, 0, 255, 0], "the privacy pixel")
    with_camera.close()
    without = open_lights(LightsSettings(kind="apa102"), camera_enabled=False, transfer=Recorder())
    assert isinstance(without.status, Apa102) and not without.status.reserve_privacy_pixel
    without.close()


def test_no_lights_configured_is_fine_and_a_camera_without_privacy_light_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lights = open_lights(LightsSettings(), camera_enabled=True)
    lights.show(Lights(LightState.OFF, OFF, privacy=True))
    lights.close()
    assert "no privacy light" in caplog.text


def test_a_taken_pin_is_a_hardware_error_and_nothing_stays_claimed(factory: MockFactory) -> None:
    blocker = LED(26, pin_factory=factory)
    with pytest.raises(HardwareError, match=r"privacy LED \(BCM 26\)"):
        open_lights(LightsSettings(kind="led", pin=18, privacy_pin=26), camera_enabled=True, pin_factory=factory)
    blocker.close()
    LED(18, pin_factory=factory).close()  # the status LED opened first was released again


@pytest.mark.skipif(importlib.util.find_spec("spidev") is not None, reason="spidev is installed here")
def test_apa102_without_spidev_says_how_to_get_it() -> None:
    with pytest.raises(HardwareError, match="python3-spidev"):
        open_lights(LightsSettings(kind="apa102"), camera_enabled=False)
