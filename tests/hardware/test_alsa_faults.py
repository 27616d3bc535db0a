"""AlsaAudio and the AudioEngine when devices fail: unplugged mid-stream, missing, xruns, a refused format.

The virtual devices (``vpcm``, see alsa_fixtures) behave like an unplugged USB device while their
``gone`` flag file exists: open fails with -ENODEV and a running stream turns DISCONNECTED.
"""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pytest

from edge_agent.errors import AudioDeviceError
from edge_agent.hardware.alsa_audio import AlsaAudio
from tests.conftest import run, wait_until
from tests.hardware.alsa_fixtures import Devices, audio_settings, band_noise, best_window, resample, running_engine

UNPLUGGED = r"(capture device 'vmic' failed while reading|playback device 'vspk' failed while writing): "
UNPLUGGED += r"No such device \(unplugged\?\)"


def test_a_device_unplugged_mid_stream_is_reopened_with_backoff_when_it_returns(
    alsa: Devices, caplog: pytest.LogCaptureFixture
) -> None:
    mic = band_noise(48000, 1.0, top_hz=6000, seed=5)
    alsa.mic("vmic", mic, 48000, unpluggable=True)  # one USB speakerphone: both sides go together
    alsa.speaker("vspk", 48000, unpluggable=True)
    audio = AlsaAudio(audio_settings())

    def errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "vmic" in r.getMessage()]

    async def main() -> np.ndarray:
        async with running_engine(audio) as (engine, uplink):
            await wait_until(lambda: len(uplink.chunks) >= 10, 10, "uplink audio")
            alsa.unplug()
            await wait_until(lambda: not engine.device_ok, 10, "device_ok to go False")
            await wait_until(lambda: len(errors()) >= 3, 10, "the failure and two reopen attempts")
            assert engine.alive and not engine.device_ok
            alsa.replug()
            await wait_until(lambda: engine.device_ok, 10, "device_ok again")
            back = len(uplink.chunks)
            await wait_until(lambda: len(uplink.chunks) >= back + 30, 10, "1.2 s of uplink audio again")
            assert engine.alive
        return uplink.audio(back)

    with caplog.at_level(logging.INFO):
        captured = run(main())
    first, *retries = errors()
    assert re.search(UNPLUGGED, first), first
    assert len(retries) >= 2
    for message in retries:
        assert "capture device 'vmic' is not connected: No such device" in message
    delays = [float(d) for d in re.findall(r"retry in ([\d.]+) s", " ".join(retries))]
    assert len(delays) >= 2 and all(a < b for a, b in zip(delays, delays[1:], strict=False)), delays  # backoff
    expected = resample(np.tile(mic, 3), 48000, 16000)
    assert best_window(captured, expected, window=4000, skip=1600) > 0.95


def test_unplugged_mid_stream_read_and_write_raise_and_close_never_does(alsa: Devices) -> None:
    alsa.mic("vmic", band_noise(48000, 0.5, top_hz=6000, seed=6), 48000, unpluggable=True)
    out = alsa.speaker("vspk", 48000, paced=True, unpluggable=True)
    audio = AlsaAudio(audio_settings())
    audio.open()
    assert audio.to_samples(audio.read()).size == 480
    audio.write(audio.to_frames(np.ones(480, dtype=np.int16)))
    alsa.unplug()
    with pytest.raises(AudioDeviceError, match=r"capture device 'vmic' failed while reading: No such device"):
        audio.read()
    with pytest.raises(AudioDeviceError, match=r"playback device 'vspk' failed while writing: No such device"):
        audio.write(audio.to_frames(np.ones(480, dtype=np.int16)))
    assert audio.playback_queued() is None  # DISCONNECTED
    audio.close()
    audio.close()
    with pytest.raises(AudioDeviceError, match=r"^capture device 'vmic' is not connected: No such device$"):
        audio.open()
    alsa.replug()
    audio.open()
    try:
        assert audio.to_samples(audio.read()).size == 480
    finally:
        audio.close()
    assert np.fromfile(out, dtype="<i2").tolist() == [1] * 480


def test_an_overrun_is_counted_and_recovered_not_raised(alsa: Devices, caplog: pytest.LogCaptureFixture) -> None:
    mic = band_noise(48000, 0.5, top_hz=6000, seed=7)
    alsa.mic("vmic", mic, 48000)  # paced: a 4 × 10 ms ring buffer
    alsa.speaker("vspk", 48000)
    audio = AlsaAudio(audio_settings())
    audio.open()
    try:
        assert audio.to_samples(audio.read()).size == 480
        time.sleep(0.1)  # longer than the 40 ms buffer: the mic overruns
        with caplog.at_level(logging.WARNING):
            assert audio.to_samples(audio.read()).size == 0
        assert audio.overruns >= 1
        assert "microphone overrun on 'vmic'" in caplog.text
        sizes = [audio.to_samples(audio.read()).size for _ in range(5)]
        assert 480 in sizes and set(sizes) <= {0, 480}
    finally:
        audio.close()


def test_an_underrun_is_counted_and_the_chunk_still_played(alsa: Devices) -> None:
    alsa.mic("vmic", np.zeros(4800, dtype=np.int16), 48000, paced=False)
    out = alsa.speaker("vspk", 48000, paced=True)
    audio = AlsaAudio(audio_settings())
    audio.open()
    first, second = np.full(480, 1, dtype=np.int16), np.full(480, 2, dtype=np.int16)
    try:
        audio.write(audio.to_frames(first))
        time.sleep(0.1)  # everything written has played: the speaker underruns
        audio.write(audio.to_frames(second))
        assert audio.underruns >= 1
    finally:
        audio.close()
    assert np.array_equal(np.fromfile(out, dtype="<i2"), np.concatenate([first, second]))


def test_a_device_that_grants_another_sample_format_is_refused(alsa: Devices) -> None:
    alsa.raw("vmic", "type vpcm; rate 48000; channels 1; format U8")
    alsa.speaker("vspk", 48000)
    audio = AlsaAudio(audio_settings())
    with pytest.raises(AudioDeviceError, match=r"^capture device 'vmic' granted format U8 \(48000 Hz, 1 ch\); "):
        audio.open()
    audio.close()


def test_when_the_speaker_cannot_open_the_mic_is_closed_again(alsa: Devices) -> None:
    alsa.mic("vmic", np.zeros(4800, dtype=np.int16), 48000, paced=False)
    audio = AlsaAudio(audio_settings(playback_device="nosuchspk"))
    with pytest.raises(AudioDeviceError, match=r"^playback device 'nosuchspk' not found: No such file or directory; "):
        audio.open()
    with pytest.raises(AudioDeviceError, match="capture device 'vmic' is not open"):
        audio.read()
