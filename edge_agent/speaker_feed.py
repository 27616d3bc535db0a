"""Between the jitter buffer and the speaker: reply audio at the device's rate, a batch at a time.

The audio thread writes one period per cycle; fetching and resampling reply audio per period
costs a lock, a resampler call and a few numpy calls each 10 ms, and on a small CPU each of those
costs most after the thread wakes up. :class:`SpeakerFeed` pops a batch (the uplink chunk's
length, e.g. 40 ms) from the :class:`~edge_agent.pcm.PlaybackBuffer`, resamples it in one call
and hands it out period by period. So that batching costs no responsiveness:

* a flush (barge-in) drops what is staged: the next period is silent;
* while nothing plays, a period is silence without a buffer or resampler call, and a reply that
  becomes ready starts at the next period, not at the next batch boundary;
* when a turn's audio ends, the resampler's tail is staged too, and ``on_drained`` runs once the
  last staged sample has been handed out (not when it left the buffer).

Each batch is converted to the device's raw frames once, so a period is a slice of a memoryview:
per period the audio thread runs no numpy code at all. On a small or busy CPU the first numpy
call after each wake-up costs tens of microseconds (measured 40 µs here for one ``frombuffer``),
so that matters more than the work itself. The feed also keeps, for the echo canceller, the mono
samples it handed out (:meth:`written`), silence padded in by the engine included (:meth:`pad`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge_agent.pcm import Frames, PlaybackBuffer, Samples, StreamResampler

REPLY_RATE = 24000
"""The rate of the buffer's audio (the Live API's output rate)."""


class SpeakerFeed:
    """Device-rate periods of reply audio (or silence) for the audio thread.

    Thread: the audio thread only; the buffer it reads is thread-safe. ``rate``: the speaker's
    granted rate; ``period``: samples per period at that rate; ``batch``: periods fetched at once
    while a reply plays. ``on_drained`` runs on the audio thread when the end of a finished turn
    has been handed out. ``to_frames``: the device's conversion of mono samples to its raw frames
    (:meth:`~edge_agent.audio_device.AudioDevice.to_frames`). ``keep_written``: whether
    :meth:`written` is wanted (the echo handling's reference); without it nothing is kept.
    """

    def __init__(
        self,
        buffer: PlaybackBuffer,
        *,
        rate: int,
        period: int,
        batch: int,
        on_drained: Callable[[], None],
        to_frames: Callable[[Samples], Samples],
        keep_written: bool = True,
    ) -> None:
        self._buffer = buffer
        self._rate = rate
        self._period = period
        self._on_drained = on_drained
        self._resampler = StreamResampler(REPLY_RATE, rate)
        self._reply_size = REPLY_RATE * period * batch // rate  # reply samples popped per batch
        self._silence = np.zeros(period * batch, dtype=np.int16)
        self._to_frames = to_frames
        self._staged: Samples = self._silence
        self._silent_frames = self._as_frames(self._silence)
        self._frames = self._silent_frames
        """The staged samples as the device's raw frames, in bytes."""
        self._sample_bytes = len(self._frames) // self._silence.size
        self._pos = self._staged.size  # nothing staged yet
        self._pad = self._silent_frames[: period * self._sample_bytes]
        self._keep = keep_written
        self._written: list[Samples] = []  # handed out, not yet taken by written()
        self._taken = self._pos  # how far into _staged written() has taken
        self._sounding = False  # the staged audio came through the resampler (a reply or its tail)
        self._flushes = buffer.flushes
        self._drain_due = False  # the buffer reported a turn drained during this pop
        self._drain_left: int | None = None  # samples to hand out before that turn's end is out

    def buffer_drained(self) -> None:
        """The buffer's ``on_drained`` while this feed pops: deferred until the turn's end is handed out.

        Thread: the audio thread (called from inside :meth:`PlaybackBuffer.pop`). Idempotent.
        """
        self._drain_due = True

    def close(self) -> None:
        """The device closed (a fault, or stopping): report a drained turn whose end was not handed out yet.

        Thread: the audio thread. Idempotent. The staged audio is dropped; what the buffer still
        queues stays there for the next feed.
        """
        if self._drain_due or self._drain_left is not None:
            self._drain_due, self._drain_left = False, None
            self._on_drained()

    def next(self) -> Frames:
        """The next period to write: ``period`` samples as the device's raw frames (a read-only view)."""
        if self._buffer.flushes != self._flushes:  # barge-in: drop what is staged, the filter's state too
            self._flushes = self._buffer.flushes
            self._resampler.reset()
            self._sounding = False
            self._take()
            self._pos = self._taken = self._staged.size
            if self._drain_left is not None:  # the turn's end was dropped: it is over
                self._drain_left = None
                self._on_drained()
            if not self._buffer.playing:
                self._buffer.pop(self._silence[:0])  # the flush figure: this period is the first silent one
        if self._pos + self._period > self._staged.size or (not self._sounding and self._buffer.playing):
            self._refill()
        start = self._pos
        self._pos += self._period
        if self._drain_left is not None:
            self._drain_left -= self._period
            if self._drain_left <= 0:
                self._drain_left = None
                self._on_drained()
        return self._frames[start * self._sample_bytes : self._pos * self._sample_bytes]

    def pad(self) -> Frames:
        """A period of silence for the engine to write besides :meth:`next` (priming, or a drained speaker).

        Counted in :meth:`written` where it was written. The same read-only view each time.
        """
        if self._keep:
            self._take()
            self._written.append(self._silence[: self._period])
        return self._pad

    def written(self) -> Samples:
        """The mono samples handed out (periods and pads, in order) since the last call; a new array or a view.

        Empty when the feed was made with ``keep_written=False``.
        """
        self._take()
        parts, self._written = self._written, []
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else self._silence[:0]

    def _take(self) -> None:
        """Move what was handed out of the staged batch since the last take to the written list."""
        if self._keep and self._taken < self._pos:
            self._written.append(self._staged[self._taken : self._pos])
        self._taken = self._pos

    def _refill(self) -> None:
        self._take()
        rest = self._staged[self._pos :] if self._sounding else self._silence[:0]
        if self._buffer.playing:
            played = self._buffer.samples_played
            ahead = rest.size + self._resampler.delay  # written before this batch: what is staged, the filter's delay
            reply = np.empty(self._reply_size, dtype=np.int16)  # a new one each time: it may be staged as is
            self._buffer.pop(reply, ahead / self._rate)
            fresh = self._resampler.process(reply)
            self._sounding = True
            if self._drain_due:  # the turn ended in this batch: its end (and the filter's delay) still to go
                self._drain_due = False
                ended = (self._buffer.samples_played - played) * self._rate // REPLY_RATE
                self._drain_left = rest.size + ended + self._resampler.delay
        elif self._sounding:  # a reply ended: stage its filter's tail, then go quiet
            fresh = self._resampler.process(self._silence[:0], last=True)
            self._resampler.reset()
            self._sounding = False
            rest = np.concatenate((rest, fresh))
            fresh = self._silence[: self._period]
        else:
            fresh = self._silence
        self._staged = np.concatenate((rest, fresh)) if rest.size else fresh
        if self._staged.size < self._period:  # only at a rate that does not divide into periods
            self._staged = np.concatenate((self._staged, self._silence[: self._period]))
        self._pos = self._taken = 0
        self._frames = self._silent_frames if self._staged is self._silence else self._as_frames(self._staged)

    def _as_frames(self, samples: Samples) -> memoryview:
        """``samples`` as the device's raw frames: a read-only byte view."""
        return self._to_frames(samples).data.cast("B").toreadonly()
