"""Echo handling on the audio thread: cancel it, or gate the mic, and check that it works.

``audio.echo_cancellation`` picks the mode:

* ``"webrtc"``: every 10 ms reference frame (exactly what was written to the speaker, at its
  rate, given just before the mic frames captured meanwhile) goes to WebRTC AEC3
  (:mod:`edge_agent.apm`), and every 10 ms mic frame comes out with the echo removed, so the
  user can talk over the model. The daemon measures its own **ERLE** (echo return loss
  enhancement: mic power over sent power) on the frames where the speaker is playing and the
  mic hears something, as the median per-frame figure over windows of :data:`WINDOW_FRAMES`
  such frames, after :data:`WARMUP_FRAMES` frames of convergence. When :data:`LOW_WINDOWS`
  windows in a row stay below ``audio.min_erle_db`` the model would hear itself, so it **falls
  back to half-duplex by itself** (logged once, shown in status). The median keeps short double
  talk (the user speaking over the model until the server interrupts it) from being mistaken
  for failure.
* ``"half_duplex"``: the mic sends silence while the speaker plays and for
  :data:`HANGOVER_FRAMES` × 10 ms after (the room's echo tail and the device buffers); barge in
  with the button.
* ``"off"``: the mic goes up as captured.

Pure apart from the injected processor: no I/O, no clocks; frames in, frames out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from edge_agent.apm import NEAR_FRAME, Processor, WebRtcApm
from edge_agent.pcm import Samples, frame_powers, mean_power
from edge_agent.settings import AudioSettings

_LOGGER = logging.getLogger(__name__)

ACTIVE_DBFS = -50.0
"""A reference frame louder than this means the speaker is playing; a mic frame quieter than this
is too quiet for its echo to matter (and for ERLE to be measured on it)."""
HANGOVER_FRAMES = 50
"""Frames (10 ms) the speaker counts as playing after its last loud frame: buffers plus the echo tail."""
WARMUP_FRAMES = 150
"""Echo frames (1.5 s) AEC3 gets to converge before ERLE counts."""
WINDOW_FRAMES = 200
"""Echo frames (2 s) per ERLE window."""
LOW_WINDOWS = 2
"""Consecutive windows below ``min_erle_db`` that trigger the fallback to half-duplex."""
FLOOR_POWER = 32768.0**2 * 10 ** (-90 / 10)
"""Mean-square power of a -90 dBFS frame: the floor for a frame the canceller made silent."""
_ACTIVE_POWER = 32768.0**2 * 10 ** (ACTIVE_DBFS / 10)


class Echo:
    """The echo policy for one audio stream.

    Thread: the audio thread only (reads of the public figures from another thread see a recent
    value, which is all status needs). Call :meth:`reference` with what was written to the
    speaker (whole 10 ms frames at its rate, silence included), then :meth:`process` with the mic
    frames captured meanwhile (whole 10 ms frames at 16 kHz); the result is what may go upstream.
    """

    def __init__(
        self,
        mode: str,
        *,
        noise_suppression: bool = True,
        min_erle_db: float = 18.0,
        processor: Callable[[], Processor] | None = None,
    ) -> None:
        if mode not in ("webrtc", "half_duplex", "off"):
            raise ValueError(f"unknown echo mode {mode!r}")
        self.configured = mode
        self.mode = mode
        """The mode in force: ``configured`` unless the fallback switched webrtc to half_duplex."""
        self.fallback_reason = ""
        """Why webrtc was given up ('' while it was not)."""
        self.erle_db: float | None = None
        """Median ERLE of the last full window, dB (None until one was measured)."""
        self.min_erle_db = min_erle_db
        self._processor: Processor | None = None
        if mode == "webrtc":
            self._processor = processor() if processor is not None else WebRtcApm(noise_suppression=noise_suppression)
        self._since_loud = HANGOVER_FRAMES  # frames since the last loud reference frame
        self._echo_frames = 0
        self._window = np.zeros(WINDOW_FRAMES, dtype=np.float64)
        self._filled = 0
        self._low = 0

    @property
    def speaker_active(self) -> bool:
        """Whether the speaker played something loud within the hangover."""
        return self._since_loud < HANGOVER_FRAMES

    def reference(self, far: Samples, rate: int) -> None:
        """Note what was written to the speaker (whole 10 ms frames at ``rate``, silence included).

        Raises ValueError unless ``far`` is a whole number of 10 ms frames.
        """
        if self.mode == "off":
            return  # nothing depends on what the speaker plays
        frame = rate // 100
        if far.size % frame:
            raise ValueError(f"the reference must be whole 10 ms frames ({frame} samples at {rate} Hz), got {far.size}")
        powers = frame_powers(far, frame)
        loud = np.flatnonzero(powers > _ACTIVE_POWER)
        if loud.size:
            self._since_loud = powers.size - 1 - int(loud[-1])
        else:
            self._quiet(powers.size)
        if self._processor is not None:
            self._processor.reverse(far, rate)

    def idle(self, far: Samples, rate: int) -> bool:
        """Whether there is nothing to cancel: the speaker quiet for the whole hangover, ``far`` included.

        If so, ``far`` (whole 10 ms frames at ``rate``, as for :meth:`reference`) is noted for the
        hangover only and True returned: a caller whose mic audio goes nowhere (standby, muted) may
        then skip :meth:`reference` and :meth:`process` for this chunk. Skipping both keeps the
        canceller's two streams in step, and its filter, still right for the room, waits unchanged.
        Otherwise nothing is noted and False returned: call :meth:`reference` and :meth:`process`.
        """
        if self.speaker_active:
            return False
        powers = frame_powers(far, rate // 100)
        if (powers > _ACTIVE_POWER).any():
            return False
        self._quiet(powers.size)
        return True

    def _quiet(self, frames: int) -> None:
        """The speaker stayed quiet for ``frames`` more 10 ms frames (counted up to the hangover)."""
        self._since_loud = min(HANGOVER_FRAMES, self._since_loud + frames)

    def process(self, near: Samples, powers: npt.NDArray[np.float64]) -> Samples:
        """Return what may go upstream for whole 10 ms mic frames (``NEAR_FRAME`` samples each, 16 kHz).

        ``powers``: each frame's mean square (the caller has them for the mic level). The frames
        follow the reference written meanwhile. May return ``near`` itself (mode off, or half-duplex
        while the speaker is quiet) or a new array.
        """
        if self._processor is not None:
            out = self._processor.process(near)
            if self.speaker_active:
                self._measure(powers, out)
            if self._processor is not None:  # no fallback during this chunk
                return out
        if self.mode == "half_duplex" and self.speaker_active:
            return np.zeros_like(near)
        return near

    def _measure(self, powers: npt.NDArray[np.float64], out: Samples) -> None:
        for k in np.flatnonzero(powers > _ACTIVE_POWER):  # frames loud enough for their echo to matter
            self._echo_frames += 1
            if self._echo_frames <= WARMUP_FRAMES or self.min_erle_db <= 0:
                continue
            out_power = mean_power(out[k * NEAR_FRAME : (k + 1) * NEAR_FRAME])
            self._window[self._filled] = 10.0 * math.log10(powers[k] / max(out_power, FLOOR_POWER))
            self._filled += 1
            if self._filled < WINDOW_FRAMES:
                continue
            self._filled = 0
            self.erle_db = round(float(np.median(self._window)), 1)
            self._low = self._low + 1 if self.erle_db < self.min_erle_db else 0
            if self._low >= LOW_WINDOWS:
                self._fall_back()
                return

    def _fall_back(self) -> None:
        self.fall_back(
            f"echo cancellation reached only {self.erle_db:.1f} dB (audio.min_erle_db = {self.min_erle_db:g}) "
            f"over {LOW_WINDOWS * WINDOW_FRAMES // 100} s of the model speaking"
        )

    def fall_back(self, reason: str) -> None:
        """Give up WebRTC for half-duplex (logged once, with ``reason``). Thread: the audio thread. Idempotent."""
        if self.mode != "webrtc":
            return
        self.fallback_reason = reason
        self.mode = "half_duplex"
        self._processor = None
        _LOGGER.warning(
            "%s: switching to half-duplex, so the model cannot hear itself; barge in with the button",
            reason,
            extra={"EDGE_AGENT_EVENT": "echo_fallback", "ERLE_DB": self.erle_db},
        )


def open_echo(settings: AudioSettings) -> Echo:
    """The :class:`Echo` that ``[audio]`` asks for. Thread: any (call once, before the audio thread).

    If WebRTC processing cannot load (no livekit wheel for this platform), the daemon still runs:
    half-duplex, with the reason logged and shown in status.
    """
    mode = settings.echo_cancellation
    try:
        return Echo(mode, noise_suppression=settings.noise_suppression, min_erle_db=settings.min_erle_db)
    except RuntimeError as e:
        _LOGGER.error("%s; using half-duplex instead", e, extra={"EDGE_AGENT_EVENT": "echo_fallback"})
        echo = Echo("half_duplex")
        echo.configured = mode
        echo.fallback_reason = str(e)
        return echo


__all__ = ["ACTIVE_DBFS", "NEAR_FRAME", "Echo", "open_echo"]
