"""APA102 ("DotStar") pixels on SPI: the frame format, the spidev bus, and the status driver.

The ReSpeaker 2-Mics Pi HAT carries three of them on SPI0 (MOSI BCM 10, SCLK BCM 11). Frames are
built here (:func:`apa102_frame`, pure) and written through an injected ``transfer`` function:
``spidev`` (:func:`open_spi`, imported lazily) on a Pi, a recorder in tests, nothing in the
simulated backend.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence

from edge_agent.errors import HardwareError
from edge_agent.hardware.animator import FPS, PatternDriver
from edge_agent.lights import PRIVACY_COLOR, RGB, LightPattern, frame_at

SPI_SPEED_HZ = 1_000_000
"""APA102 clock: far below the chip's limit, ample for a few pixels at FPS."""

Transfer = Callable[[list[int]], None]
"""Writes bytes (as ints 0..255) to the SPI bus."""


def apa102_frame(pixels: Sequence[tuple[RGB, float]]) -> list[int]:
    """The bytes that set an APA102 chain: each pixel's (color 0..1, brightness 0..1). Pure.

    Start frame: 32 zero bits. Per pixel: ``0b111`` + 5-bit global brightness (rounded up, so any light
    stays visible; 0 for a dark pixel), then blue, green, red. End frame: zeros, at least 32 bits and at
    least one bit per two pixels (the extra clock the data needs to reach the end of the chain). Zeros, as
    tinue/APA102_Pi sends: a zero byte never starts a pixel frame (those start ``0b111``).
    """
    data = [0, 0, 0, 0]
    for (r, g, b), brightness in pixels:
        red, green, blue = (max(0, min(255, round(255 * c))) for c in (r, g, b))
        level = math.ceil(31 * min(1.0, brightness)) if (red or green or blue) and brightness > 0 else 0
        data += [0b1110_0000 | level, blue, green, red]
    return data + [0] * max(4, math.ceil(len(pixels) / 16))


class Apa102(PatternDriver):
    """A chain of APA102 pixels on SPI; optionally its last pixel is the privacy light (green).

    ``transfer`` writes the frame (``spidev`` through :func:`open_spi` on a Pi; a recorder in tests);
    ``release`` is called once by :meth:`close`, after the chain has gone dark.
    """

    def __init__(
        self,
        transfer: Transfer,
        *,
        pixels: int = 3,
        brightness: float = 1.0,
        reserve_privacy_pixel: bool = False,
        release: Callable[[], None] | None = None,
        fps: float = FPS,
    ) -> None:
        if reserve_privacy_pixel and pixels < 2:
            raise ValueError("a privacy pixel needs a chain of at least 2 pixels")
        self.pixels = pixels
        self.reserve_privacy_pixel = reserve_privacy_pixel
        self._transfer = transfer
        self._release_spi = release
        self._brightness = brightness
        self._privacy = False
        super().__init__("lights-apa102", fps)

    def set_privacy(self, on: bool) -> None:
        """Light (True) or darken the reserved privacy pixel. Thread-safe, idempotent; no-op without one."""
        with self._lock:
            if self._closed or not self.reserve_privacy_pixel or on == self._privacy:
                return
            self._privacy = on
            self._animator.changed(self._pattern.animated, restart=False)

    def _value_at(self, pattern: LightPattern, t: float) -> tuple[int, ...]:
        count = self.pixels - 1 if self.reserve_privacy_pixel else self.pixels
        pixels = [(rgb, self._brightness) for rgb in frame_at(pattern, t, count)]
        if self.reserve_privacy_pixel:
            color = tuple(c / 255 for c in PRIVACY_COLOR) if self._privacy else (0.0, 0.0, 0.0)
            pixels.append(((color[0], color[1], color[2]), 1.0))
        return tuple(apa102_frame(pixels))

    def _write(self, value: tuple[int, ...]) -> None:
        self._transfer(list(value))

    def _write_off(self) -> None:
        self._transfer(apa102_frame([((0.0, 0.0, 0.0), 0.0)] * self.pixels))

    def _release(self) -> None:
        if self._release_spi is not None:
            self._release_spi()


def open_spi(bus: int, device: int, *, speed_hz: int = SPI_SPEED_HZ) -> tuple[Transfer, Callable[[], None]]:
    """Open ``/dev/spidevBUS.DEVICE`` with ``spidev`` (imported here, lazily): (transfer, release).

    Raises HardwareError with the fix when spidev or the device node is missing. Blocks briefly.
    """
    try:
        spidev = importlib.import_module("spidev")
    except ImportError as e:
        raise HardwareError(
            f"apa102 lights need spidev ({e}): on Raspberry Pi OS `apt install python3-spidev` and create the "
            "virtualenv with --system-site-packages (or `pip install spidev`)"
        ) from e
    spi = spidev.SpiDev()
    try:
        spi.open(bus, device)
        spi.max_speed_hz = speed_hz
        spi.mode = 0
    except OSError as e:
        spi.close()
        raise HardwareError(
            f"cannot open /dev/spidev{bus}.{device} for the apa102 lights: {e} "
            "(enable SPI with dtparam=spi=on in config.txt; the user needs the spi group)"
        ) from e
    return (lambda data: spi.writebytes2(data)), spi.close
