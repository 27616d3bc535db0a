"""The playback jitter buffer, the uplink chunker and the resampler."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.latency import Latency
from edge_agent.pcm import Framer, PlaybackBuffer, StreamResampler, rms_dbfs


def ramp(n: int, start: int = 1) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def test_playback_waits_for_the_prebuffer_then_plays_in_order() -> None:
    buf = PlaybackBuffer(prebuffer=100)
    out = np.empty(40, dtype=np.int16)
    buf.push(ramp(60))
    buf.pop(out)
    assert not out.any()  # still buffering: silence, and no underrun
    buf.push(ramp(60, start=61))
    played = []
    for _ in range(3):
        buf.pop(out)
        played.append(out.copy())
    assert np.array_equal(np.concatenate(played), ramp(120))
    assert buf.underruns == 0


def test_running_dry_mid_turn_counts_an_underrun_and_rebuffers() -> None:
    buf = PlaybackBuffer(prebuffer=10)
    out = np.empty(10, dtype=np.int16)
    buf.push(ramp(10))
    buf.pop(out)
    buf.pop(out)
    assert buf.underruns == 1 and not out.any()
    buf.push(ramp(5))  # below the prebuffer again: waits
    buf.pop(out)
    assert not out.any() and buf.underruns == 1


def test_finish_plays_out_the_tail_below_the_prebuffer_then_reports_drained() -> None:
    drained = []
    buf = PlaybackBuffer(prebuffer=1000, on_drained=lambda: drained.append(True))
    out = np.empty(8, dtype=np.int16)
    buf.push(ramp(12))
    buf.finish()
    buf.pop(out)
    assert np.array_equal(out, ramp(8)) and drained == []
    buf.pop(out)
    assert np.array_equal(out[:4], ramp(4, start=9)) and not out[4:].any()
    assert drained == [True] and buf.underruns == 0


def test_finish_with_nothing_queued_reports_drained_at_once() -> None:
    drained = []
    buf = PlaybackBuffer(prebuffer=10, on_drained=lambda: drained.append(True))
    buf.finish()
    assert drained == [True]


def test_flush_silences_the_very_next_period_and_is_idempotent() -> None:
    buf = PlaybackBuffer(prebuffer=0)
    out = np.empty(10, dtype=np.int16)
    buf.push(ramp(100))
    buf.pop(out)
    assert buf.flush() == 90
    assert buf.flush() == 0
    buf.pop(out)
    assert not out.any() and buf.queued == 0 and buf.underruns == 0


def test_framer_cuts_exact_frames_across_chunk_boundaries() -> None:
    framer = Framer(640)
    frames: list[bytes] = []
    signal = ramp(160 * 9)
    for i in range(9):
        frames += [f.tobytes() for f in framer.push(signal[i * 160 : (i + 1) * 160])]
    assert [len(c) for c in frames] == [1280, 1280]
    assert b"".join(frames) == signal[:1280].tobytes()
    framer.reset()
    first = framer.push(ramp(700))[0]
    assert first.tobytes() == ramp(640).tobytes()
    first[:] = 0  # a frame is the caller's own array
    assert framer.push(ramp(580))[0][:60].tobytes() == ramp(700)[640:].tobytes()


def test_resampler_is_a_pass_through_at_equal_rates_and_keeps_a_tone_across_rates() -> None:
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.int16)
    same = StreamResampler(16000, 16000)
    assert same.process(tone) is tone
    down = StreamResampler(48000, 16000)
    out = np.concatenate(
        [down.process(tone[i : i + 480]) for i in range(0, 48000, 480)] + [down.process(tone[:0], last=True)]
    )
    assert abs(out.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(out[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert abs(peak_hz - 440) < 3
    assert abs(rms_dbfs(out[2000:14000]) - rms_dbfs(tone)) < 0.5


def test_rms_dbfs_of_silence_and_full_scale() -> None:
    assert rms_dbfs(np.zeros(100, dtype=np.int16)) == -120.0
    assert abs(rms_dbfs(np.full(100, 32767, dtype=np.int16))) < 0.01


def test_the_buffer_times_each_message_beyond_its_own_wait_and_the_flush() -> None:
    now = [100.0]
    latency = Latency()
    buf = PlaybackBuffer(prebuffer=480, rate=24000, latency=latency, clock=lambda: now[0])
    out = np.zeros(240, dtype=np.int16)
    buf.push(ramp(240), received_at=100.0)  # below the prebuffer: waits
    now[0] = 100.010
    buf.push(ramp(240), received_at=100.010)  # reaches it at 100.010
    now[0] = 100.012  # the audio thread's next period, 2 ms later
    buf.pop(out)  # the first message's first sample: 2 ms after the prebuffer was reached
    now[0] = 100.022
    buf.pop(out)  # the second: due 10 ms after the start (behind the first), popped at 12 ms
    assert latency.wire_to_speaker.values() == pytest.approx([2.0, 2.0])
    buf.push(ramp(2400), received_at=100.030)
    now[0] = 100.031
    buf.pop(out)
    assert buf.flush(received_at=100.0315) > 0
    now[0] = 100.041
    buf.pop(out)  # the first silent period after the flush
    assert latency.flush.values() == pytest.approx([9.5])
    buf.pop(out)
    assert latency.flush.count == 1  # timed once
    assert latency.summary()["flush_ms"] == {"p50": 9.5, "p99": 9.5, "max": 9.5, "n": 1}
