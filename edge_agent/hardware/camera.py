"""Camera stills as JPEG: picamera2 on a Pi (imported lazily), or a simulated test pattern.

Frames are scaled so the long edge is at most ``camera.long_edge_px`` and encoded with
simplejpeg (libjpeg-turbo, the encoder picamera2 itself uses). :meth:`capture_jpeg`
blocks for a few milliseconds: call it from a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import simplejpeg

from edge_agent.errors import HardwareError

_LOGGER = logging.getLogger(__name__)

JPEG_QUALITY = 80


class Camera(Protocol):
    """A source of JPEG stills. Thread: any one worker thread at a time."""

    def capture_jpeg(self) -> bytes:
        """Capture and encode one frame; raises HardwareError when the camera fails."""

    def close(self) -> None:
        """Release the camera. Idempotent."""


def fit(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """Scale (width, height) so the longer side is at most ``long_edge``; even sizes, aspect kept."""
    scale = min(1.0, long_edge / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class SimulatedCamera:
    """A moving test pattern (colour bars, a sweeping bar, a frame counter in binary)."""

    def __init__(self, long_edge_px: int) -> None:
        self.width, self.height = fit(1280, 960, long_edge_px)  # a 4:3 "sensor"
        self.frames = 0
        self._lock = threading.Lock()
        bars = np.array(
            [
                [235, 235, 235],
                [235, 235, 16],
                [16, 235, 235],
                [16, 235, 16],
                [235, 16, 235],
                [235, 16, 16],
                [16, 16, 235],
            ],
            dtype=np.uint8,
        )
        columns = np.arange(self.width) * len(bars) // self.width
        self._base: npt.NDArray[np.uint8] = np.ascontiguousarray(
            np.broadcast_to(bars[columns], (self.height, self.width, 3))
        )

    def capture_jpeg(self) -> bytes:
        """Render the next frame and encode it."""
        with self._lock:
            n = self.frames
            self.frames += 1
        image = self._base.copy()
        x = (n * 37) % self.width
        image[:, x : x + 8] = 0
        bits = [(n >> i) & 1 for i in range(16)]
        cell = max(4, self.width // 32)
        for i, bit in enumerate(bits):
            image[-cell:, i * cell : (i + 1) * cell] = 255 if bit else 0
        return bytes(simplejpeg.encode_jpeg(image, JPEG_QUALITY, colorspace="RGB"))

    def close(self) -> None:
        """Nothing to release."""


class PiCamera:
    """The Pi camera through picamera2 (from apt on Raspberry Pi OS, never from pip).

    Raises HardwareError with the fix when picamera2 or the camera is missing.
    """

    def __init__(self, long_edge_px: int, *, picamera2_module: Any = None) -> None:
        if picamera2_module is None:
            try:
                import picamera2  # lazy: needs libcamera, only on a Pi
            except ImportError as e:
                raise HardwareError(
                    f"camera unavailable: cannot import picamera2 ({e}); on Raspberry Pi OS run "
                    "`apt install python3-picamera2` and create the virtualenv with --system-site-packages"
                ) from e
            picamera2_module = picamera2
        try:
            self._cam = picamera2_module.Picamera2()
            width, height = self._cam.sensor_resolution
            self.size = fit(width, height, long_edge_px)
            # RGB888 is BGR in memory; a video configuration suits a ≤1 fps still loop better than a
            # full-resolution still configuration (no raw stream, short frame durations).
            config = self._cam.create_video_configuration(main={"size": self.size, "format": "RGB888"}, buffer_count=2)
            self._cam.configure(config)
            self._cam.start()
        except Exception as e:  # picamera2 raises RuntimeError/IndexError when no camera is attached
            raise HardwareError(f"camera unavailable: {e}") from e
        _LOGGER.info("camera ready: %dx%d", *self.size)

    def capture_jpeg(self) -> bytes:
        """Capture the newest frame and encode it."""
        try:
            frame = self._cam.capture_array("main")
        except Exception as e:
            raise HardwareError(f"camera capture failed: {e}") from e
        return bytes(simplejpeg.encode_jpeg(frame, JPEG_QUALITY, colorspace="BGR"))

    def close(self) -> None:
        """Stop and release the camera. Idempotent."""
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.close()
            except Exception as e:  # already gone: nothing left to release
                _LOGGER.debug("closing the camera: %s", e)


def open_camera(backend: str, long_edge_px: int) -> Camera:
    """Open the configured camera (``"picamera2"`` or ``"simulated"``). Raises HardwareError. Blocks."""
    if backend == "simulated":
        return SimulatedCamera(long_edge_px)
    if backend == "picamera2":
        return PiCamera(long_edge_px)
    raise ValueError(f"no camera backend {backend!r}")
