"""The speaker feed: reply audio at the device's rate, a batch at a time, without losing responsiveness."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.latency import Latency
from edge_agent.pcm import Frames, PlaybackBuffer, StreamResampler
from edge_agent.speaker_feed import SpeakerFeed

PERIOD = 240  # 10 ms at 24 kHz: the speaker runs at the reply's rate, so audio passes bit-exact
BATCH = 4


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def samples(frames: Frames) -> np.ndarray:
    """A copy of the int16 samples in a period of raw frames the feed handed out."""
    return np.frombuffer(frames, dtype=np.int16).copy()


def ramp(n: int, start: int = 1) -> np.ndarray:
    return (np.arange(start, start + n) % 30000 + 1).astype(np.int16)


class Rig:
    """A buffer and a feed as the engine wires them, driven one 10 ms period at a time."""

    def __init__(
        self,
        rate: int = 24000,
        prebuffer: int = 0,
        latency: Latency | None = None,
        channels: int = 1,
        keep_written: bool = True,
    ) -> None:
        self.clock = Clock()
        self.periods: list[np.ndarray] = []
        self.drained: list[int] = []
        """For each on_drained: how many periods had been handed out before the call that reported it."""
        self.buffer = PlaybackBuffer(prebuffer, latency=latency, clock=self.clock)
        self.feed = SpeakerFeed(
            self.buffer,
            rate=rate,
            period=rate // 100,
            batch=BATCH,
            on_drained=lambda: self.drained.append(len(self.periods)),
            to_frames=lambda samples: np.repeat(samples, channels),
            keep_written=keep_written,
        )
        self.buffer.on_drained = self.feed.buffer_drained  # as the engine routes it from the audio thread

    def run(self, n: int) -> np.ndarray:
        """``n`` periods out of the feed, 10 ms apart, concatenated."""
        for _ in range(n):
            self.periods.append(samples(self.feed.next()))
            self.clock.now += 0.01
        return np.concatenate(self.periods[-n:])


def test_silence_while_idle_and_a_reply_starts_at_the_next_period_not_the_next_batch() -> None:
    rig = Rig()
    assert not rig.run(5).any()
    rig.buffer.push(ramp(2400))  # ready between batch boundaries
    first = samples(rig.feed.next())
    assert first.tobytes() == ramp(PERIOD).tobytes()


def test_a_reply_passes_whole_and_in_order_across_batches_and_ends_in_silence() -> None:
    rig = Rig()
    reply = ramp(24000 // 100 * 9 + 37)  # not a whole number of periods or batches
    rig.buffer.push(reply)
    rig.buffer.finish()
    out = rig.run(14)
    assert out[: reply.size].tobytes() == reply.tobytes()
    assert not out[reply.size :].any()


def test_at_the_device_rate_the_reply_is_the_resampled_reply_with_its_tail() -> None:
    rig = Rig(rate=48000)
    reply = (8000 * np.sin(2 * np.pi * 440 * np.arange(12000) / 24000)).astype(np.int16)  # 0.5 s
    rig.buffer.push(reply)
    rig.buffer.finish()
    out = rig.run(70)
    padded = np.concatenate([reply, np.zeros(-reply.size % 960, dtype=np.int16)])  # the last batch, as popped
    whole = StreamResampler(24000, 48000)
    expected = np.concatenate([whole.process(padded[i : i + 960]) for i in range(0, padded.size, 960)])
    expected = np.concatenate([expected, whole.process(reply[:0], last=True)])
    assert out[: expected.size].tobytes() == expected.tobytes()  # the filter's tail is played, not cut
    assert not out[expected.size :].any()
    end = (reply.size * 2 + whole.delay + 479) // 480  # periods until the reply's last sample is out
    assert rig.drained == [end - 1]  # during the call that hands out that period


def test_drained_waits_until_the_end_of_the_turn_was_handed_out() -> None:
    rig = Rig()
    rig.buffer.push(ramp(PERIOD * 2 + 10))  # ends in the third period of the first batch
    rig.buffer.finish()
    rig.run(2)
    assert rig.drained == []  # popped from the buffer already, but not yet written
    rig.run(1)
    assert rig.drained == [2]  # during the call that handed out the third period, where the turn ends
    rig.run(8)
    assert rig.drained == [2]  # once


def test_a_flush_silences_the_very_next_period_and_records_the_flush_figure() -> None:
    latency = Latency()
    rig = Rig(latency=latency)
    rig.buffer.push(ramp(24000))
    rig.run(1)  # a batch of four periods is staged
    rig.buffer.flush(received_at=rig.clock.now - 0.002)
    assert not samples(rig.feed.next()).any()
    assert latency.flush.summary()["n"] == 1
    assert latency.flush.summary()["max"] == pytest.approx(2.0)
    assert not rig.run(8).any()
    rig.buffer.push(ramp(PERIOD * 8, start=5))  # the next reply is not mixed with anything staged before
    assert rig.run(1).tobytes() == ramp(PERIOD, start=5).tobytes()
    assert rig.drained == []


def test_a_flush_after_the_turn_drained_from_the_buffer_still_reports_it_drained() -> None:
    rig = Rig()
    rig.buffer.push(ramp(PERIOD * 2))
    rig.buffer.finish()
    rig.run(1)
    rig.buffer.flush()
    rig.run(1)
    assert rig.drained == [1]  # at the flush: the end of the turn will never be written


def test_an_underrun_mid_turn_gives_silence_then_the_rest_after_the_prebuffer() -> None:
    rig = Rig(prebuffer=PERIOD * 2)
    rig.buffer.push(ramp(PERIOD * 2))
    first = rig.run(5)
    assert first[: PERIOD * 2].tobytes() == ramp(PERIOD * 2).tobytes()
    assert not first[PERIOD * 2 :].any()
    assert rig.buffer.underruns == 1
    rig.buffer.push(ramp(PERIOD * 2, start=9))
    assert rig.run(2).tobytes() == ramp(PERIOD * 2, start=9).tobytes()


def test_the_wire_to_speaker_figure_counts_what_the_feed_already_holds() -> None:
    latency = Latency()
    rig = Rig(latency=latency)
    rig.buffer.push(ramp(PERIOD * 4), received_at=rig.clock.now)
    rig.run(1)  # the whole message is staged now; three periods remain to write
    rig.buffer.push(ramp(PERIOD * 4), received_at=rig.clock.now)  # due in 30 ms, when what is held runs out
    rig.run(8)
    assert latency.wire_to_speaker.summary()["max"] == pytest.approx(0.0, abs=0.5)


def test_the_wire_to_speaker_figure_includes_the_resampler_s_filter_delay() -> None:
    latency = Latency()
    rig = Rig(rate=48000, latency=latency)
    rig.buffer.push(ramp(2400), received_at=rig.clock.now)
    rig.run(2)
    assert latency.wire_to_speaker.summary()["max"] == pytest.approx(10.0, abs=0.5)  # 480 leading samples at 48 kHz


def test_closing_the_feed_reports_a_turn_whose_end_was_staged_but_never_written() -> None:
    rig = Rig()
    rig.buffer.push(ramp(PERIOD * 2))
    rig.buffer.finish()
    rig.run(1)  # the whole turn is staged; the device fails before the rest is written
    rig.feed.close()
    rig.feed.close()
    assert rig.drained == [1]


def test_periods_are_the_device_s_raw_frames_every_channel_and_read_only() -> None:
    rig = Rig(channels=2)
    rig.buffer.push(ramp(PERIOD * 6))
    rig.buffer.finish()
    out = rig.run(6)
    assert out.tobytes() == np.repeat(ramp(PERIOD * 6), 2).tobytes()  # interleaved, PERIOD frames per period
    frames = rig.feed.next()
    assert isinstance(frames, memoryview) and frames.readonly and len(frames) == 4 * PERIOD


def test_written_is_exactly_what_was_handed_out_pads_included_in_order() -> None:
    rig = Rig()
    reply = ramp(PERIOD * 9 + 17)
    rig.buffer.push(reply)
    rig.buffer.finish()
    handed: list[np.ndarray] = []
    for k in range(16):  # across refills, the end of the reply, and into silence
        if k in (2, 7):
            handed.append(samples(rig.feed.pad()))
            assert not handed[-1].any() and handed[-1].size == PERIOD
        handed.append(samples(rig.feed.next()))
        if k in (4, 5, 11):  # taken mid-batch and at several points
            assert rig.feed.written().tobytes() == np.concatenate(handed).tobytes()
            handed.clear()
    assert rig.feed.written().tobytes() == np.concatenate(handed).tobytes()
    assert rig.feed.written().size == 0  # taken: nothing new


def test_written_after_a_flush_keeps_what_was_handed_out_before_it() -> None:
    rig = Rig()
    rig.buffer.push(ramp(PERIOD * 8))
    first = np.concatenate([samples(rig.feed.next()) for _ in range(2)])
    rig.buffer.flush()
    after = samples(rig.feed.next())
    assert not after.any()
    assert rig.feed.written().tobytes() == np.concatenate([first, after]).tobytes()


def test_without_keep_written_nothing_is_kept() -> None:
    rig = Rig(keep_written=False)
    rig.buffer.push(ramp(PERIOD * 6))
    rig.feed.pad()
    rig.run(6)
    assert rig.feed.written().size == 0
