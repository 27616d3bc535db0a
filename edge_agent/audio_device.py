"""The contract between the audio thread and a sound device (a microphone and a speaker).

The audio thread (:mod:`edge_agent.audio_engine`) wakes once per period, reads one capture
period and writes one playback period as the device's raw frames, and converts between raw
frames and mono int16 samples once per batch: on a small CPU the numpy calls of a conversion
cost most right after a wake-up, so they are kept off the per-period path.
"""

from __future__ import annotations

from typing import Protocol

from edge_agent.pcm import Frames, Samples


class AudioDevice(Protocol):
    """A microphone + speaker pair driven one period at a time by the audio thread.

    Implementations: :class:`edge_agent.hardware.alsa_audio.AlsaAudio` (pyalsaaudio) and
    :class:`edge_agent.hardware.simulated.SimulatedAudio` (WAV files, real-time pacing).
    All methods are called from the audio thread only.
    """

    name: str
    capture_rate: int
    """Granted capture rate; valid after :meth:`open`."""
    playback_rate: int
    """Granted playback rate; valid after :meth:`open`."""
    overruns: int
    """Capture overruns recovered so far."""
    underruns: int
    """Playback underruns (xruns) recovered so far."""

    def open(self) -> None:
        """Open both directions; raise :class:`HardwareError` naming the device on failure."""

    def read(self) -> bytes:
        """Block for about one period; return its raw frames (empty after an overrun).

        Raw: as the device delivers them (int16, every granted channel), converted with
        :meth:`to_samples`, which the engine does once per batch, not per period.
        """

    def to_samples(self, raw: bytes) -> Samples:
        """Mono int16 at ``capture_rate`` from raw capture frames (any number of periods, joined)."""

    def to_frames(self, samples: Samples) -> Samples:
        """The speaker's raw frames for mono int16 at ``playback_rate``: C-contiguous, every channel.

        The same array when the speaker has one channel and ``samples`` is already contiguous.
        """

    def write(self, frames: Frames) -> None:
        """Queue raw frames (from :meth:`to_frames`, or a slice of their bytes) for the speaker."""

    def playback_queued(self) -> int | None:
        """Frames queued in the speaker's buffer now, or None when the device cannot tell."""

    def close(self) -> None:
        """Release the device. Idempotent."""
