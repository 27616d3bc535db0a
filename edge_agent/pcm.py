"""Pure PCM helpers for the hot path: the playback jitter buffer, the uplink chunker, levels.

Samples are 16-bit signed little-endian mono, held in numpy ``int16`` arrays; nothing
here loops over samples in Python. Resampling uses soxr's streaming resampler (HQ).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import soxr

Samples = npt.NDArray[np.int16]


def as_samples(pcm: bytes) -> Samples:
    """View 16-bit LE PCM bytes as an int16 array (no copy; read-only). A stray odd byte is ignored."""
    return np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)


def rms_dbfs(samples: Samples) -> float:
    """RMS level in dBFS (full-scale sine = -3 dB); -inf... clipped to -120 for silence."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(-120.0, 20.0 * float(np.log10(max(rms, 1e-9) / 32768.0)))


class StreamResampler:
    """Streaming int16 resampler (soxr HQ); a pass-through when the rates are equal.

    Not thread-safe: each stream belongs to one thread.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality="HQ")

    def process(self, samples: Samples, *, last: bool = False) -> Samples:
        """Resample one chunk; ``last=True`` flushes the filter's tail."""
        if self._stream is None:
            return samples
        out: Samples = self._stream.resample_chunk(samples, last=last)
        return out

    def reset(self) -> None:
        """Forget filter state (after a flush), so stale audio never leaks into new audio."""
        if self._stream is not None:
            self._stream.clear()


class Chunker:
    """Collects 16 kHz frames into fixed-size uplink chunks (e.g. 40 ms = 640 samples).

    Thread: the audio thread only. ``push`` returns finished chunks as ``bytes``
    (a fresh object each, safe to hand to another thread).
    """

    def __init__(self, chunk_samples: int) -> None:
        self.chunk_samples = chunk_samples
        self._buf = np.zeros(chunk_samples, dtype=np.int16)
        self._fill = 0

    def push(self, samples: Samples) -> list[bytes]:
        """Add samples; return zero or more complete chunks in order."""
        done: list[bytes] = []
        pos = 0
        while pos < samples.size:
            take = min(self.chunk_samples - self._fill, samples.size - pos)
            self._buf[self._fill : self._fill + take] = samples[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == self.chunk_samples:
                done.append(self._buf.tobytes())
                self._fill = 0
        return done

    def reset(self) -> None:
        """Drop a partly filled chunk (the uplink was switched off)."""
        self._fill = 0


class PlaybackBuffer:
    """Jitter buffer between the Live session (producer) and the speaker (consumer).

    Thread-safe: :meth:`push`, :meth:`finish` and :meth:`flush` run on the event loop,
    :meth:`pop` on the audio thread. None of them block beyond a short lock.

    Playback starts once ``prebuffer`` samples are queued (or the turn is finished),
    so network jitter does not chop the reply. When the queue runs dry mid-turn the
    speaker gets silence, the underrun is counted, and playback waits for the
    prebuffer again. ``on_drained`` is called (from whichever thread emptied the
    buffer) when a finished turn has been played out completely.
    """

    def __init__(self, prebuffer: int, on_drained: Callable[[], None] | None = None) -> None:
        self.prebuffer = prebuffer
        self.on_drained = on_drained
        self.underruns = 0
        self.samples_played = 0
        self._lock = threading.Lock()
        self._chunks: deque[Samples] = deque()
        self._offset = 0  # samples already consumed from _chunks[0]
        self._queued = 0
        self._playing = False
        self._finishing = False

    @property
    def queued(self) -> int:
        """Samples waiting to be played."""
        return self._queued

    def push(self, samples: Samples) -> None:
        """Queue reply audio. Thread: event loop."""
        if samples.size == 0:
            return
        with self._lock:
            self._chunks.append(samples)
            self._queued += samples.size
            if self._queued >= self.prebuffer:
                self._playing = True

    def finish(self) -> None:
        """End of turn: play out the rest (even below the prebuffer), then report drained.

        Thread: event loop. Idempotent.
        """
        with self._lock:
            self._finishing = True
            if self._queued:
                self._playing = True
                return
            self._finishing = False
        self._drained()

    def flush(self) -> int:
        """Discard everything queued now (barge-in); returns the samples dropped.

        Thread: any. Never blocks beyond the lock. Idempotent. After this the speaker
        gets silence from its next period on.
        """
        with self._lock:
            dropped = self._queued
            self._chunks.clear()
            self._offset = 0
            self._queued = 0
            self._playing = False
            self._finishing = False
        return dropped

    def pop(self, out: Samples) -> None:
        """Fill ``out`` with the next samples, or silence. Thread: the audio thread."""
        n = out.size
        drained = False
        with self._lock:
            filled = 0
            if self._playing:
                while filled < n and self._chunks:
                    head = self._chunks[0]
                    take = min(n - filled, head.size - self._offset)
                    out[filled : filled + take] = head[self._offset : self._offset + take]
                    filled += take
                    self._offset += take
                    if self._offset == head.size:
                        self._chunks.popleft()
                        self._offset = 0
                self._queued -= filled
                self.samples_played += filled
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
            out[filled:] = 0
        if drained:
            self._drained()

    def _drained(self) -> None:
        if self.on_drained is not None:
            self.on_drained()
