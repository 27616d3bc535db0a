"""WebRTC audio processing (AEC3, noise suppression, high-pass) through livekit's prebuilt APM.

The only module that imports ``livekit`` (lazily, so a daemon with ``audio.echo_cancellation``
other than ``"webrtc"`` never loads it). livekit ships WebRTC's audio processing module as a Rust
FFI library with wheels for x86_64 and aarch64; no LiveKit server or network is involved.
Measured figures and why this engine: ``docs/audio-processing.md`` in the shared docs.

Audio goes in as whole 10 ms frames: 160 samples each at 16 kHz (near end, the microphone) and,
for the far end, 10 ms at the speaker's own rate (exactly what was written to it: 480 samples
at 48 kHz, 441 at 44.1 kHz, 240 at 24 kHz). WebRTC resamples the reference itself, and its cost
does not depend on that rate (measured: 90–104 µs per pair of frames at 16, 24, 44.1 and 48 kHz).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from edge_agent.pcm import Samples

NEAR_RATE = 16000
NEAR_FRAME = NEAR_RATE // 100
"""Samples in one 10 ms microphone frame."""


class Processor(Protocol):
    """An echo canceller fed whole 10 ms frames. Thread: one thread (the audio thread) only."""

    def reverse(self, far: Samples, rate: int) -> None:
        """Feed far-end audio (whole 10 ms frames at ``rate``) as written to the speaker."""

    def process(self, near: Samples) -> Samples:
        """Process microphone audio (whole ``NEAR_FRAME`` frames); return a new array with the result."""


class WebRtcApm:
    """livekit's ``rtc.AudioProcessingModule``: AEC3 + high-pass (+ noise suppression), AGC off.

    AGC stays off: it raised residual echo and the Live API does not need a normalised level.
    A call takes several 10 ms frames at once (livekit's native side steps through them in
    order): a chunk's reference frames in one call, then its microphone frames in one, is
    bit-identical to calling frame by frame in that order (tests/test_echo.py checks it) and
    saves six of eight FFI round trips per 40 ms chunk. Buffers are reused while the sizes stay
    the same; nothing per sample is a Python object. Not thread-safe: the audio thread owns it.
    Raises :class:`RuntimeError` from the constructor when livekit cannot be loaded.
    """

    def __init__(self, *, noise_suppression: bool) -> None:
        try:
            from livekit import rtc
        except ImportError as e:  # the wheel is missing for this platform (e.g. 32-bit Pi OS)
            raise RuntimeError(f"WebRTC echo cancellation needs the livekit package: {e}") from e
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            high_pass_filter=True,
            auto_gain_control=False,
        )
        self._frame = rtc.AudioFrame
        self._near, self._near_samples = self._buffer(NEAR_FRAME * 4, NEAR_RATE)
        self._far: Any = None  # made at the first reference's size and rate
        self._far_samples = np.zeros(0, dtype=np.int16)
        self._far_rate = 0

    def _buffer(self, size: int, rate: int) -> tuple[Any, Samples]:
        """An ``AudioFrame`` of ``size`` samples at ``rate`` and an int16 view of its data."""
        frame = self._frame(bytearray(size * 2), rate, 1, size)
        return frame, np.frombuffer(frame.data, dtype=np.int16)

    def reverse(self, far: Samples, rate: int) -> None:
        """Feed far-end audio. Raises ValueError unless it is whole 10 ms frames at ``rate``."""
        if far.size == 0 or far.size % (rate // 100):
            raise ValueError(f"reference audio must be whole 10 ms frames at {rate} Hz, got {far.size} samples")
        if far.size != self._far_samples.size or rate != self._far_rate:
            self._far, self._far_samples = self._buffer(far.size, rate)
            self._far_rate = rate
        self._far_samples[:] = far
        self._apm.process_reverse_stream(self._far)

    def process(self, near: Samples) -> Samples:
        """Cancel echo in microphone audio. Raises ValueError unless it is whole 10 ms, 16 kHz frames."""
        if near.size == 0 or near.size % NEAR_FRAME:
            raise ValueError(f"microphone audio must be whole {NEAR_FRAME}-sample frames, got {near.size} samples")
        if near.size != self._near_samples.size:
            self._near, self._near_samples = self._buffer(near.size, NEAR_RATE)
        self._near_samples[:] = near
        self._apm.process_stream(self._near)
        return self._near_samples.copy()
