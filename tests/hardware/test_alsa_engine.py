"""The real AudioEngine on virtual ALSA devices (real pyalsaaudio and alsa-lib, a compiled ioplug, no card).

Content is checked by normalized cross-correlation against the same signal converted in one batch by soxr,
so a wrong rate, a wrong channel or a gap fails, not just a wrong length.
"""

from __future__ import annotations

import logging
from pathlib import Path

import alsaaudio
import numpy as np
import pytest

from edge_agent.hardware.alsa_audio import AlsaAudio
from tests.conftest import run, wait_until
from tests.hardware.alsa_fixtures import (
    Devices,
    audio_settings,
    band_noise,
    best_window,
    peak_correlation,
    resample,
    running_engine,
)

WINDOW = 4000
"""250 ms at 16 kHz: the stretch of uplink audio each correlation looks at (the best of several counts, so
an overrun on a loaded machine cannot fail a test by bad luck; a wrong rate or channel fails every one)."""
SKIP = 1600
"""The first 100 ms of uplink audio (resampler start-up) are not checked."""


def size(path: Path) -> int:
    return path.stat().st_size


async def played_on(played: Path, rate: int) -> None:
    """Wait for 100 ms more output: when on_drained fires, the resampler still holds the reply's last ms."""
    mark = size(played)
    await wait_until(lambda: size(played) >= mark + 2 * rate // 10, 10, "100 ms more playback")


def test_a_48k_mic_reaches_the_uplink_as_the_same_audio_at_16k(alsa: Devices) -> None:
    mic = band_noise(48000, 1.0, top_hz=6000, seed=1)
    alsa.mic("vmic", mic, 48000)
    alsa.speaker("vspk", 48000)
    audio = AlsaAudio(audio_settings())

    async def main() -> np.ndarray:
        async with running_engine(audio) as (engine, uplink):
            await wait_until(lambda: len(uplink.chunks) >= 40, 10, "1.6 s of uplink audio")
            assert engine.device_ok
        assert {len(c) for c in uplink.chunks} == {1280}  # 40 ms of 16 kHz mono S16_LE
        return uplink.audio()

    captured = run(main())
    assert (audio.capture_rate, audio.playback_rate) == (48000, 48000)
    expected = resample(np.tile(mic, 3), 48000, 16000)
    assert best_window(captured, expected, window=WINDOW, skip=SKIP) > 0.95
    # The measure itself discriminates: other noise of the same band does not match.
    other = resample(np.tile(band_noise(48000, 1.0, top_hz=6000, seed=9), 3), 48000, 16000)
    assert peak_correlation(captured[SKIP : SKIP + WINDOW], other) < 0.3


def test_a_24k_reply_reaches_a_48k_speaker_as_the_same_audio_and_drains(alsa: Devices) -> None:
    reply = band_noise(24000, 0.5, top_hz=8000, seed=2)
    alsa.mic("vmic", np.zeros(4800, dtype=np.int16), 48000)
    played = alsa.speaker("vspk", 48000)
    audio = AlsaAudio(audio_settings())

    async def main() -> None:
        async with running_engine(audio) as (engine, uplink):
            for part in np.array_split(reply, 5):
                engine.play(part.tobytes())
            engine.finish()
            await wait_until(lambda: uplink.drained == 1, 10, "on_drained")
            assert engine.samples_played == reply.size
            await played_on(played, 48000)

    run(main())
    assert audio.playback_rate == 48000
    out = np.fromfile(played, dtype="<i2")
    expected = resample(reply, 24000, 48000)
    assert out.size >= expected.size
    assert peak_correlation(expected, out) > 0.95
    assert audio.playback_queued() is None  # closed


def test_a_device_that_grants_44k1_instead_of_48k_is_resampled_right_both_ways(
    alsa: Devices, caplog: pytest.LogCaptureFixture
) -> None:
    mic = band_noise(44100, 1.0, top_hz=6000, seed=3)
    reply = band_noise(24000, 0.5, top_hz=8000, seed=4)
    alsa.mic("vmic", mic, 44100)
    played = alsa.speaker("vspk", 44100)
    probe = alsaaudio.PCM(
        alsaaudio.PCM_CAPTURE, device="vmic", rate=48000, channels=1, format=alsaaudio.PCM_FORMAT_S16_LE
    )
    assert probe.info()["rate"] == 44100  # ALSA substitutes silently
    probe.close()
    audio = AlsaAudio(audio_settings())  # asks 48000 both ways

    async def main() -> np.ndarray:
        async with running_engine(audio) as (engine, uplink):
            await wait_until(lambda: len(uplink.chunks) >= 20, 10, "0.8 s of uplink audio")
            for part in np.array_split(reply, 5):
                engine.play(part.tobytes())
            engine.finish()
            await wait_until(lambda: uplink.drained == 1, 10, "on_drained")
            await played_on(played, 44100)
        return uplink.audio()

    with caplog.at_level(logging.WARNING, logger="edge_agent.hardware.alsa_audio"):
        captured = run(main())
    assert (audio.capture_rate, audio.playback_rate) == (44100, 44100)
    warnings = [r.getMessage() for r in caplog.records if r.name == "edge_agent.hardware.alsa_audio"]
    assert "capture device 'vmic' granted 44100 Hz / 1 ch instead of 48000 Hz / 1 ch; converting" in warnings
    assert "playback device 'vspk' granted 44100 Hz / 1 ch instead of 48000 Hz / 1 ch; converting" in warnings
    assert best_window(captured, resample(np.tile(mic, 3), 44100, 16000), window=WINDOW, skip=SKIP) > 0.95
    assert peak_correlation(resample(reply, 24000, 44100), np.fromfile(played, dtype="<i2")) > 0.95
