"""ALSA microphone and speaker through pyalsaaudio (the ``pi`` backend's audio).

Devices are named by ALSA PCM name (``default``, ``plughw:CARD=seeed2micvoicec,DEV=0``).
ALSA may silently grant another rate, channel count or format than asked: after
opening, the granted values are read back with ``pcm.info()``; another rate or channel
count is used correctly (resampled / mixed), another sample format is refused with a
message naming the device and what it granted.
"""

from __future__ import annotations

import contextlib
import logging

import alsaaudio
import numpy as np

from edge_agent.errors import AudioDeviceError
from edge_agent.pcm import Samples
from edge_agent.settings import AudioSettings

_LOGGER = logging.getLogger(__name__)

_PERIODS = 4
"""Periods in each ALSA ring buffer (4 × 10 ms keeps write latency low)."""


class AlsaAudio:
    """A capture PCM and a playback PCM driven in lockstep by the audio thread.

    Implements :class:`edge_agent.audio_engine.AudioDevice`. ``read`` blocks for one
    capture period (the thread's clock); ``write`` blocks only when the speaker's ring
    buffer is full. An overrun/underrun (-EPIPE) is counted and recovered, never fatal.
    """

    def __init__(self, settings: AudioSettings) -> None:
        self.settings = settings
        self.name = f"{settings.capture_device} / {settings.playback_device}"
        self.capture_rate = settings.capture_rate
        self.playback_rate = settings.playback_rate
        self.overruns = 0
        self.underruns = 0
        self._capture: alsaaudio.PCM | None = None
        self._playback: alsaaudio.PCM | None = None
        self._capture_channels = settings.capture_channels
        self._playback_channels = settings.playback_channels
        self._period_ms = settings.period_ms

    def open(self) -> None:
        """Open both PCMs and check what ALSA granted. Raises AudioDeviceError."""
        s = self.settings
        self.close()
        self._capture, self.capture_rate, self._capture_channels = self._open(
            alsaaudio.PCM_CAPTURE, s.capture_device, s.capture_rate, s.capture_channels
        )
        try:
            self._playback, self.playback_rate, self._playback_channels = self._open(
                alsaaudio.PCM_PLAYBACK, s.playback_device, s.playback_rate, s.playback_channels
            )
        except AudioDeviceError:
            self.close()
            raise

    def _open(self, kind: int, device: str, rate: int, channels: int) -> tuple[alsaaudio.PCM, int, int]:
        what = "capture" if kind == alsaaudio.PCM_CAPTURE else "playback"
        try:
            pcm = alsaaudio.PCM(
                kind,
                alsaaudio.PCM_NORMAL,
                device=device,
                rate=rate,
                channels=channels,
                format=alsaaudio.PCM_FORMAT_S16_LE,
                periodsize=rate * self._period_ms // 1000,
                periods=_PERIODS,
            )
        except alsaaudio.ALSAAudioError as e:
            raise AudioDeviceError(f"cannot open {what} device {device!r}: {e}") from e
        info = pcm.info()
        granted_rate, granted_channels, fmt = int(info["rate"]), int(info["channels"]), info["format_name"]
        if fmt != "S16_LE":
            pcm.close()
            raise AudioDeviceError(
                f"{what} device {device!r} granted format {fmt} ({granted_rate} Hz, {granted_channels} ch); "
                "edge-agent needs S16_LE: use a plughw: or default device so ALSA converts"
            )
        if (granted_rate, granted_channels) != (rate, channels):
            _LOGGER.warning(
                "%s device %r granted %d Hz / %d ch instead of %d Hz / %d ch; converting",
                what,
                device,
                granted_rate,
                granted_channels,
                rate,
                channels,
            )
        return pcm, granted_rate, granted_channels

    def read(self) -> Samples:
        """Read one capture period as mono int16 (channels mixed down)."""
        assert self._capture is not None
        try:
            n, data = self._capture.read()
        except alsaaudio.ALSAAudioError as e:
            raise AudioDeviceError(f"capture device {self.settings.capture_device!r} failed: {e}") from e
        if n < 0:  # -EPIPE: overrun, pyalsaaudio has re-prepared the stream
            self.overruns += 1
            _LOGGER.warning("microphone overrun on %r (%d so far)", self.settings.capture_device, self.overruns)
            return np.zeros(0, dtype=np.int16)
        samples = np.frombuffer(data, dtype="<i2")[: n * self._capture_channels]
        if self._capture_channels > 1:
            samples = samples.reshape(-1, self._capture_channels).mean(axis=1).astype(np.int16)
        return samples

    def write(self, samples: Samples) -> None:
        """Write mono int16 to the speaker (duplicated to every granted channel)."""
        assert self._playback is not None
        if samples.size == 0:
            return
        if self._playback_channels > 1:
            samples = np.repeat(samples, self._playback_channels)
        data = samples.astype("<i2", copy=False).tobytes()
        try:
            if self._playback.write(data) < 0:  # -EPIPE: underrun; the chunk was not written
                self.underruns += 1
                self._playback.write(data)
        except alsaaudio.ALSAAudioError as e:
            raise AudioDeviceError(f"playback device {self.settings.playback_device!r} failed: {e}") from e

    def close(self) -> None:
        """Close both PCMs. Idempotent."""
        for pcm in (self._capture, self._playback):
            if pcm is not None:
                # Already gone (unplugged): nothing left to release.
                with contextlib.suppress(alsaaudio.ALSAAudioError):
                    pcm.close()
        self._capture = self._playback = None
