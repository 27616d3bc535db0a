"""Pure PCM helpers for the hot path: the playback jitter buffer, the uplink chunker, levels.

Samples are 16-bit signed little-endian mono, held in numpy ``int16`` arrays; nothing
here loops over samples in Python. Resampling uses soxr's streaming resampler (HQ).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import soxr

if TYPE_CHECKING:
    from edge_agent.latency import Latency

Samples = npt.NDArray[np.int16]
Frames = bytes | memoryview | Samples
"""A device's raw frames: bytes, a view of them, or the int16 array that holds them."""


def as_samples(pcm: bytes) -> Samples:
    """View 16-bit LE PCM bytes as an int16 array (no copy; read-only). A stray odd byte is ignored."""
    return np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)


def mean_power(samples: Samples) -> float:
    """Mean square of int16 samples (0.0 for none); one numpy call, no per-sample objects (hot path)."""
    if samples.size == 0:
        return 0.0
    as_float = samples.astype(np.float32)
    return float(np.dot(as_float, as_float)) / samples.size


def frame_powers(samples: Samples, frame: int) -> npt.NDArray[np.float64]:
    """Mean square of each ``frame``-sample frame of ``samples`` (a whole number of them), in one numpy call."""
    frames = samples.reshape(-1, frame).astype(np.float32)
    powers: npt.NDArray[np.float64] = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frame
    return powers


def power_dbfs(power: float) -> float:
    """A mean-square power as dBFS RMS (full-scale square wave = 0 dB, sine = -3 dB), floored at -120."""
    return max(-120.0, 10.0 * math.log10(max(power, 1e-12) / 32768.0**2))


def rms_dbfs(samples: Samples) -> float:
    """RMS level in dBFS (full-scale sine = -3 dB); -120 for silence. Accumulates in float64 (long recordings)."""
    if samples.size == 0:
        return -120.0
    return power_dbfs(float(np.mean(np.square(samples, dtype=np.float64))))


class StreamResampler:
    """Streaming int16 resampler (soxr, HQ recipe, variable-rate engine); a pass-through when the rates are equal.

    soxr's default engine filters in DFT blocks and gives its output in bursts (1660 samples at a
    time for 24 → 48 kHz): fed 10 ms at a time it holds up to 37 ms of audio. Its variable-rate
    engine (``vr=True``, used here at a constant ratio) has the same rejection (aliases and images
    −87 dB, flat to 7 kHz at 16 kHz; checked in tests/test_pcm.py) and returns each call's worth at
    once, holding only its filter delay: 13 ms for 48 → 16 kHz and 10 ms for 24 → 48 kHz (the
    default engine: 11 and 16 ms, plus the bursts). That delay is given out as leading zeros when
    a stream starts (or after :meth:`reset`), so every call returns ``len(samples) × out_rate /
    in_rate`` samples (the remainder carried): output lines up with the input, period for period.

    Not thread-safe: each stream belongs to one thread.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None
        if in_rate != out_rate:
            self._stream = self._open()
        self._taken = 0  # input samples since the start
        self._given = 0  # output samples since the start
        self._flowing = False  # soxr has returned samples since the start
        self.delay = 0
        """Output samples by which the stream lags its input (the leading zeros it gives at the start)."""
        if self._stream is not None:  # known before the first call: a probe stream is cheap
            taken = in_rate // 10
            self.delay = taken * out_rate // in_rate - self._open().resample_chunk(np.zeros(taken, dtype=np.int16)).size

    def _open(self) -> soxr.ResampleStream:
        """A new soxr stream between the two rates (the one recipe the stream and its delay probe share)."""
        return soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="int16", quality="HQ", vr=True)

    def process(self, samples: Samples, *, last: bool = False) -> Samples:
        """Resample one chunk; ``last=True`` flushes the filter's tail (then :meth:`reset` before reuse)."""
        if self._stream is None:
            return samples
        out: Samples = self._stream.resample_chunk(samples, last=last)
        self._taken += samples.size
        due = self._taken * self.out_rate // self.in_rate - self._given
        if not self._flowing:  # starting: the filter delay (however soxr spreads it) as leading zeros
            self._flowing = out.size > 0
            if not last and out.size < due:
                out = np.concatenate((np.zeros(due - out.size, dtype=np.int16), out))
        self._given += out.size
        return out

    def reset(self) -> None:
        """Forget filter state (after a flush), so stale audio never leaks into new audio."""
        if self._stream is not None:
            self._stream.clear()
        self._taken = self._given = 0
        self._flowing = False


class Framer:
    """Cuts a stream of int16 samples into fixed-size frames (e.g. 10 ms for the echo canceller).

    Thread: one thread only. ``push`` returns finished frames in order: views of the input when it
    lines up with the frames (the common case, no copy), new arrays otherwise. Use a frame before
    the input array is reused.
    """

    def __init__(self, frame_samples: int) -> None:
        self.frame_samples = frame_samples
        self._buf = np.zeros(frame_samples, dtype=np.int16)
        self._fill = 0

    def push(self, samples: Samples) -> list[Samples]:
        """Add samples; return zero or more complete frames in order."""
        size = self.frame_samples
        if self._fill == 0 and samples.size % size == 0:  # lined up: views, no copy
            return [samples[i : i + size] for i in range(0, samples.size, size)]
        done: list[Samples] = []
        pos = 0
        while pos < samples.size:
            take = min(self.frame_samples - self._fill, samples.size - pos)
            self._buf[self._fill : self._fill + take] = samples[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == self.frame_samples:
                done.append(self._buf.copy())
                self._fill = 0
        return done

    def blank(self) -> None:
        """Silence a partly filled frame but keep its length (frame boundaries stay where they were)."""
        self._buf[: self._fill] = 0


class PlaybackBuffer:
    """Jitter buffer between the Live session (producer) and the speaker (consumer).

    Thread-safe: :meth:`push`, :meth:`finish` and :meth:`flush` run on the event loop,
    :meth:`pop` on the audio thread. None of them block beyond a short lock.

    Playback starts once ``prebuffer`` samples are queued (or the turn is finished),
    so network jitter does not chop the reply. When the queue runs dry mid-turn the
    speaker gets silence, the underrun is counted, and playback waits for the
    prebuffer again. ``on_drained`` is called (from whichever thread emptied the
    buffer) when a finished turn has been played out completely.

    With ``latency`` given, the buffer records two series (see :mod:`edge_agent.latency`): for each
    pushed message with a ``received_at`` time, how much later than the jitter buffer's own wait
    its first sample was popped (``wire_to_speaker``), and after a :meth:`flush` with a
    ``received_at`` time, when the first silent period was popped (``flush``). Times are
    ``clock()`` seconds (``time.monotonic`` by default).
    """

    def __init__(
        self,
        prebuffer: int,
        on_drained: Callable[[], None] | None = None,
        *,
        rate: int = 24000,
        latency: Latency | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prebuffer = prebuffer
        self.on_drained = on_drained
        self.underruns = 0
        self.samples_played = 0
        self._rate = rate
        self._latency = latency
        self._clock = clock
        self._lock = threading.Lock()
        # Each entry: samples, arrival time (or None), samples ahead of it at arrival (queued or held by the consumer).
        self._chunks: deque[tuple[Samples, float | None, int]] = deque()
        self._offset = 0  # samples already consumed from _chunks[0]
        self._queued = 0
        self._playing = False
        self._finishing = False
        self._started_at = 0.0  # when playback (re)started: the prebuffer was reached or the turn finished
        self._flushed_at: float | None = None
        self._flushes = 0
        self._held_until = 0.0  # when the audio the consumer took (and holds) runs out

    @property
    def queued(self) -> int:
        """Samples waiting to be played."""
        return self._queued

    @property
    def playing(self) -> bool:
        """Whether :meth:`pop` would give reply audio now (prebuffer reached or turn finished). Any thread."""
        return self._playing

    @property
    def flushes(self) -> int:
        """How many times :meth:`flush` ran: a reader holding popped audio compares it to drop that too."""
        return self._flushes

    def push(self, samples: Samples, received_at: float | None = None) -> None:
        """Queue reply audio that arrived at ``received_at`` (for the latency figure). Thread: event loop."""
        if samples.size == 0:
            return
        with self._lock:
            ahead = self._queued  # and what the consumer holds, for the latency figure
            if self._playing and self._latency is not None:
                ahead += max(0, int((self._held_until - self._clock()) * self._rate))
            self._chunks.append((samples, received_at, ahead))
            self._queued += samples.size
            if not self._playing and self._queued >= self.prebuffer:
                self._start()

    def _start(self) -> None:
        self._playing = True
        self._started_at = self._clock()
        self._flushed_at = None  # new audio before a silent period: nothing to time

    def finish(self) -> None:
        """End of turn: play out the rest (even below the prebuffer), then report drained.

        Thread: event loop. Idempotent.
        """
        with self._lock:
            self._finishing = True
            if self._queued:
                if not self._playing:
                    self._start()
                return
            self._finishing = False
        self._drained()

    def flush(self, received_at: float | None = None) -> int:
        """Discard everything queued now (barge-in); returns the samples dropped.

        Thread: any. Never blocks beyond the lock. Idempotent. After this the speaker
        gets silence from its next period on. ``received_at``: when the ``interrupted``
        that asked for it arrived (for the flush latency figure).
        """
        with self._lock:
            dropped = self._queued
            self._chunks.clear()
            self._offset = 0
            self._queued = 0
            self._playing = False
            self._finishing = False
            self._flushes += 1
            if received_at is not None:
                self._flushed_at = received_at
        return dropped

    def pop(self, out: Samples, ahead_s: float = 0.0) -> None:
        """Fill ``out`` with the next samples, or silence. Thread: the audio thread.

        ``ahead_s``: audio the caller already holds to write before ``out`` (for the latency figures:
        ``out[i]`` reaches the speaker ``ahead_s + i / rate`` from now). An empty ``out`` only records
        a pending flush figure (the caller is writing its first silent period).
        """
        n = out.size
        drained = False
        with self._lock:
            filled = 0
            if self._playing:
                while filled < n and self._chunks:
                    head, received_at, ahead = self._chunks[0]
                    if self._offset == 0 and received_at is not None and self._latency is not None:
                        due = max(received_at, self._started_at) + ahead / self._rate
                        late = self._clock() + ahead_s + filled / self._rate - due
                        self._latency.wire_to_speaker.add(max(0.0, late) * 1000.0)
                    take = min(n - filled, head.size - self._offset)
                    out[filled : filled + take] = head[self._offset : self._offset + take]
                    filled += take
                    self._offset += take
                    if self._offset == head.size:
                        self._chunks.popleft()
                        self._offset = 0
                self._queued -= filled
                self.samples_played += filled
                self._held_until = self._clock() + ahead_s + filled / self._rate
                if filled < n:  # ran dry during this period
                    self._playing = False
                    if self._finishing:
                        self._finishing = False
                        drained = True
                    else:
                        self.underruns += 1
                elif self._queued == 0 and self._finishing:
                    self._playing = False
                    self._finishing = False
                    drained = True
            elif self._flushed_at is not None:
                if self._latency is not None:
                    self._latency.flush.add((self._clock() + ahead_s - self._flushed_at) * 1000.0)
                self._flushed_at = None
            out[filled:] = 0
        if drained:
            self._drained()

    def _drained(self) -> None:
        if self.on_drained is not None:
            self.on_drained()
