"""WebRTC audio processing (AEC3, noise suppression, high-pass) through livekit's prebuilt APM.

The only module that imports ``livekit`` (lazily, so a daemon with ``audio.echo_cancellation``
other than ``"webrtc"`` never loads it). livekit ships WebRTC's audio processing module as a Rust
FFI library with wheels for x86_64 and aarch64; no LiveKit server or network is involved.
Measured figures and why this engine: ``docs/audio-processing.md`` in the shared docs.

Frames are exactly 10 ms: 160 samples at 16 kHz (near end, the microphone) and, for the far end,
10 ms at the speaker's own rate (exactly what was written to it: 480 samples at 48 kHz, 441 at
44.1 kHz, 240 at 24 kHz). WebRTC resamples the reference itself, and its cost does not depend
on that rate (measured: 90–104 µs per pair of frames at 16, 24, 44.1 and 48 kHz).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from edge_agent.pcm import Samples

NEAR_RATE = 16000
FAR_RATE = 24000
NEAR_FRAME = NEAR_RATE // 100
"""Samples in one 10 ms microphone frame."""
FAR_FRAME = FAR_RATE // 100
"""Samples in one 10 ms reference frame at the model's rate."""


class Processor(Protocol):
    """An echo canceller fed in 10 ms frames. Thread: one thread (the audio thread) only."""

    def reverse(self, far: Samples) -> None:
        """Feed one 10 ms far-end frame (at any rate that is a multiple of 100 Hz) as written to the speaker."""

    def process(self, near: Samples) -> Samples:
        """Process one 10 ms microphone frame (``NEAR_FRAME`` samples); return a new array with the result."""


class WebRtcApm:
    """livekit's ``rtc.AudioProcessingModule``: AEC3 + high-pass (+ noise suppression), AGC off.

    AGC stays off: it raised residual echo and the Live API does not need a normalised level.
    Buffers are allocated once; each call copies one frame in and (for ``process``) one out, so
    nothing per sample is a Python object. Not thread-safe: the audio thread owns it.
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
        self._near = rtc.AudioFrame(bytearray(NEAR_FRAME * 2), NEAR_RATE, 1, NEAR_FRAME)
        self._near_samples = np.frombuffer(self._near.data, dtype=np.int16)
        self._frame = rtc.AudioFrame
        self._far: Any = None
        self._far_samples = np.zeros(0, dtype=np.int16)

    def reverse(self, far: Samples) -> None:
        """Feed one 10 ms far-end frame; its rate is ``100 × len(far)``. Raises ValueError for an empty frame."""
        if far.size != self._far_samples.size:  # the first frame, or the speaker reopened at another rate
            if far.size == 0:
                raise ValueError("reference frames must be 10 ms long, got 0 samples")
            self._far = self._frame(bytearray(far.size * 2), far.size * 100, 1, far.size)
            self._far_samples = np.frombuffer(self._far.data, dtype=np.int16)
        self._far_samples[:] = far
        self._apm.process_reverse_stream(self._far)

    def process(self, near: Samples) -> Samples:
        """Cancel echo in one microphone frame. Raises ValueError unless it has ``NEAR_FRAME`` samples."""
        if near.size != NEAR_FRAME:
            raise ValueError(f"microphone frames must be {NEAR_FRAME} samples, got {near.size}")
        self._near_samples[:] = near
        self._apm.process_stream(self._near)
        return self._near_samples.copy()
