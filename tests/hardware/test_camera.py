"""Camera stills: the simulated test pattern, and PiCamera through a fake picamera2 module."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import simplejpeg

from edge_agent.errors import HardwareError
from edge_agent.hardware.camera import PiCamera, SimulatedCamera, fit


def test_fit_keeps_the_aspect_and_caps_the_long_edge() -> None:
    assert fit(4608, 2592, 768) == (768, 432)
    assert fit(480, 640, 768) == (480, 640)  # never upscaled
    assert fit(1000, 1000, 501) == (500, 500)  # even sizes for the encoder


def test_simulated_frames_are_jpegs_that_change_over_time() -> None:
    cam = SimulatedCamera(768)
    first, second = cam.capture_jpeg(), cam.capture_jpeg()
    height, width, _, _ = simplejpeg.decode_jpeg_header(first)
    assert (width, height) == (768, 576)
    assert first != second and cam.frames == 2


class FakePicamera2:
    """Stands in for picamera2.Picamera2 (which cannot load off a Pi); records the calls."""

    calls: list[str] = []

    def __init__(self) -> None:
        self.sensor_resolution = (4608, 2592)
        self.config: dict[str, Any] = {}

    def create_video_configuration(self, main: dict[str, Any], buffer_count: int = 4) -> dict[str, Any]:
        self.calls.append("create_video_configuration")
        return {"main": main, "buffer_count": buffer_count}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")
        self.config = config

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self, name: str = "main") -> np.ndarray:
        self.calls.append(f"capture_array:{name}")
        width, height = self.config["main"]["size"]
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 0] = 200  # blue channel first: RGB888 is BGR in memory
        return frame

    def close(self) -> None:
        self.calls.append("close")


def test_pi_camera_configures_a_scaled_bgr_stream_and_encodes_jpeg() -> None:
    FakePicamera2.calls = []
    cam = PiCamera(768, picamera2_module=SimpleNamespace(Picamera2=FakePicamera2))
    jpeg = cam.capture_jpeg()
    cam.close()
    cam.close()
    assert FakePicamera2.calls == ["create_video_configuration", "configure", "start", "capture_array:main", "close"]
    image = simplejpeg.decode_jpeg(jpeg, colorspace="RGB")
    assert image.shape == (432, 768, 3)
    assert image[..., 2].mean() > 180 and image[..., 0].mean() < 20  # blue stayed blue


def test_without_picamera2_the_error_says_how_to_fix_it() -> None:
    with pytest.raises(HardwareError, match="apt install python3-picamera2"):
        PiCamera(768)  # picamera2 is not installed off a Pi


def test_a_camera_that_is_not_there_is_a_hardware_error() -> None:
    def no_camera() -> None:
        raise IndexError("list index out of range")

    with pytest.raises(HardwareError, match="camera unavailable"):
        PiCamera(768, picamera2_module=SimpleNamespace(Picamera2=no_camera))
