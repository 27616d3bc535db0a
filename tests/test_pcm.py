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


def test_framer_cuts_exact_frames_across_chunk_boundaries_and_blanks_in_place() -> None:
    framer = Framer(640)
    frames: list[bytes] = []
    signal = ramp(160 * 9)
    for i in range(9):
        frames += [f.tobytes() for f in framer.push(signal[i * 160 : (i + 1) * 160])]
    assert [len(c) for c in frames] == [1280, 1280]
    assert b"".join(frames) == signal[:1280].tobytes()
    framer.blank()  # the 160 waiting samples become silence; the frame boundary stays
    first = framer.push(ramp(700))[0]
    assert first.tobytes() == np.concatenate((np.zeros(160, np.int16), ramp(480))).tobytes()
    first[:] = 0  # a frame is the caller's own array
    assert framer.push(ramp(580))[0][:220].tobytes() == ramp(700)[480:].tobytes()


def tone(hz: float, rate: int, seconds: float = 1.0, amplitude: float = 8000) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.int16)


def stream(resampler: StreamResampler, samples: np.ndarray, block: int) -> list[np.ndarray]:
    """``samples`` through ``resampler`` ``block`` at a time, then its tail (``last=True``)."""
    outs = [resampler.process(samples[i : i + block]) for i in range(0, samples.size, block)]
    return outs + [resampler.process(samples[:0], last=True)]


def test_resampler_is_a_pass_through_at_equal_rates_and_keeps_a_tone_across_rates() -> None:
    same = StreamResampler(16000, 16000)
    assert same.process(t := tone(440, 16000)) is t
    out = np.concatenate(stream(StreamResampler(48000, 16000), tone(440, 48000), 480))
    spectrum = np.abs(np.fft.rfft(out[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert abs(peak_hz - 440) < 3
    assert abs(rms_dbfs(out[2000:14000]) - rms_dbfs(tone(440, 16000))) < 0.5


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "block"),
    [(48000, 16000, 480), (48000, 16000, 1920), (24000, 48000, 960), (24000, 44100, 240), (44100, 16000, 1764)],
)
def test_every_call_returns_its_own_worth_and_the_delay_is_the_filter_s_alone(
    in_rate: int, out_rate: int, block: int
) -> None:
    # The default soxr engine returns 10 ms calls in ~35 ms bursts; the stream here gives each call's
    # samples at once, so the audio thread's periods and chunks line up with the device's.
    click = np.zeros(in_rate, dtype=np.int16)
    click[in_rate // 2] = 20000
    outs = stream(StreamResampler(in_rate, out_rate), click, block)
    assert {o.size for o in outs[:-1]} == {block * out_rate // in_rate}
    out = np.concatenate(outs)
    delay_ms = (np.argmax(np.abs(out)) - out_rate // 2) * 1000 / out_rate
    assert 0 <= delay_ms <= 15
    assert outs[-1].size == pytest.approx(delay_ms * out_rate / 1000, abs=out_rate // 1000)  # the tail
    assert StreamResampler(in_rate, out_rate).delay == pytest.approx(delay_ms * out_rate / 1000, abs=out_rate // 1000)


def test_the_resampler_keeps_the_band_and_rejects_aliases_and_images() -> None:
    def level(samples: np.ndarray) -> float:
        return rms_dbfs(samples[samples.size // 4 : -samples.size // 4])  # steady state only

    down = StreamResampler(48000, 16000)
    assert level(np.concatenate(stream(down, tone(7000, 48000), 480))) == pytest.approx(-15.2, abs=0.2)  # passband
    down.reset()
    assert level(np.concatenate(stream(down, tone(12000, 48000), 480))) < -15.2 - 80  # folds to 4 kHz: rejected
    up = StreamResampler(24000, 48000)
    out = np.concatenate(stream(up, tone(11000, 24000), 240))
    spectrum = np.abs(np.fft.rfft(out[out.size // 4 : -out.size // 4].astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(out.size - 2 * (out.size // 4), 1 / 48000)
    assert 10 * np.log10(spectrum[hz > 12500].sum() / spectrum.sum()) < -80  # the image at 13 kHz


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
