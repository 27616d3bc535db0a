"""AlsaAudio against real pyalsaaudio on virtual ALSA devices (file/null plugins and vpcm, no sound card)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.errors import AudioDeviceError
from edge_agent.hardware.alsa_audio import AlsaAudio
from edge_agent.settings import AudioSettings
from tests.hardware.alsa_fixtures import Devices, audio_settings, tone

ALSA_CONF = "/usr/share/alsa/alsa.conf"


@pytest.fixture
def devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake mic (raw file in), a fake speaker (raw file out), via ALSA_CONFIG_PATH."""
    signal = (np.arange(48000 * 2) % 2000 - 1000).astype("<i2")  # 2 s of a 24 Hz sawtooth at 48 kHz
    (tmp_path / "mic.raw").write_bytes(signal.tobytes())
    (tmp_path / "asound.conf").write_text(
        f'pcm.fakemic {{ type file; slave.pcm "null"; file "/dev/null"; infile "{tmp_path}/mic.raw"; format "raw" }}\n'
        f'pcm.fakespk {{ type file; slave.pcm "null"; file "{tmp_path}/spk.raw"; format "raw"; truncate true }}\n'
    )
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{ALSA_CONF}:{tmp_path}/asound.conf")
    return tmp_path


def settings(**overrides: Any) -> AudioSettings:
    """:func:`audio_settings` on this module's file-plugin devices ``fakemic`` / ``fakespk``."""
    return audio_settings(**{"capture_device": "fakemic", "playback_device": "fakespk", **overrides})


def test_reads_capture_periods_and_writes_playback(devices: Path) -> None:
    audio = AlsaAudio(settings())
    audio.open()
    try:
        assert (audio.capture_rate, audio.playback_rate) == (48000, 48000)
        frames = [audio.to_samples(audio.read()) for _ in range(10)]
        assert [f.size for f in frames] == [480] * 10  # 10 ms periods
        expected = (np.arange(4800) % 2000 - 1000).astype(np.int16)
        assert np.array_equal(np.concatenate(frames), expected)
        out = np.arange(960, dtype=np.int16)
        audio.write(audio.to_frames(out))
    finally:
        audio.close()
        audio.close()  # idempotent
    assert np.array_equal(np.frombuffer((devices / "spk.raw").read_bytes(), dtype="<i2"), out)


def test_stereo_playback_duplicates_the_mono_reply(devices: Path) -> None:
    audio = AlsaAudio(settings(playback_channels=2))
    audio.open()
    audio.write(audio.to_frames(np.array([1, 2, 3], dtype=np.int16)))
    audio.close()
    assert np.frombuffer((devices / "spk.raw").read_bytes(), dtype="<i2").tolist() == [1, 1, 2, 2, 3, 3]


def test_an_unknown_device_name_is_a_clear_error_and_alsa_lib_stays_quiet(
    devices: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    audio = AlsaAudio(settings(capture_device="nosuchmic"))
    expected = (
        "capture device 'nosuchmic' not found: No such file or directory; "
        "`edge-agent devices` lists the devices and what each can do"
    )
    with pytest.raises(AudioDeviceError, match=f"^{re.escape(expected)}$"):
        audio.open()
    audio = AlsaAudio(settings(playback_device="nosuchspk"))
    with pytest.raises(AudioDeviceError, match=r"^playback device 'nosuchspk' not found: .*`edge-agent devices`"):
        audio.open()
    assert "ALSA lib" not in capfd.readouterr().err  # alsa-lib's "Unknown PCM nosuchmic" line is silenced


# --- virtual devices from the compiled vpcm plugin (tests/hardware/alsa_fixtures.py) -------------------------


def test_capture_channel_picks_one_channel_of_a_stereo_mic_or_all_are_mixed(alsa: Devices) -> None:
    left, right = tone(48000, 4800, 440), tone(48000, 4800, 1000, level=6000)
    alsa.mic("vmic", np.stack([left, right], axis=1), 48000, paced=False)
    alsa.speaker("vspk", 48000)
    mixed = ((left.astype(np.int32) + right) // 2).astype(np.int16)
    for channel, expected, hz in ((0, left, 440), (1, right, 1000), (None, mixed, 440)):
        audio = AlsaAudio(audio_settings(capture_channels=2, capture_channel=channel))
        audio.open()
        try:
            got = np.concatenate([audio.to_samples(audio.read()) for _ in range(10)])
        finally:
            audio.close()
        assert got.dtype == np.int16 and got.flags.c_contiguous
        assert np.array_equal(got, expected), channel
        assert np.argmax(np.abs(np.fft.rfft(got))) * 48000 / got.size == hz  # the loudest tone


def test_capture_channel_beyond_what_the_mic_granted_fails_open_clearly(
    alsa: Devices, caplog: pytest.LogCaptureFixture
) -> None:
    alsa.mic("vmic", tone(48000, 4800, 440), 48000, paced=False)  # a mono mic
    alsa.speaker("vspk", 48000)
    audio = AlsaAudio(audio_settings(capture_channels=2, capture_channel=1))
    expected = "capture device 'vmic' granted 1 channel(s) of the 2 asked, so capture_channel 1 does not exist"
    with pytest.raises(AudioDeviceError, match=f"^{re.escape(expected)}"):
        audio.open()
    audio = AlsaAudio(audio_settings(capture_channels=2, capture_channel=0))
    audio.open()  # channel 0 exists
    try:
        assert np.array_equal(audio.to_samples(audio.read()), tone(48000, 480, 440))
    finally:
        audio.close()
    assert "capture device 'vmic' granted 48000 Hz / 1 ch instead of 48000 Hz / 2 ch; converting" in caplog.text


def test_a_period_stays_period_ms_long_at_a_granted_rate(alsa: Devices) -> None:
    alsa.mic("vmic", tone(44100, 4410, 441), 44100, paced=False)
    alsa.speaker("vspk", 44100)
    audio = AlsaAudio(audio_settings())  # asks 48000: ALSA grants 44100, so 441 frames, not 480
    audio.open()
    try:
        assert audio.capture_rate == 44100
        assert [audio.to_samples(audio.read()).size for _ in range(3)] == [441] * 3
    finally:
        audio.close()


def test_playback_queued_follows_a_clocked_speaker(alsa: Devices) -> None:
    alsa.mic("vmic", np.zeros(4800, dtype=np.int16), 48000, paced=False)
    alsa.speaker("vspk", 48000, paced=True)
    audio = AlsaAudio(audio_settings(period_ms=50))  # a 8 × 50 ms buffer: scheduling cannot empty it here
    assert audio.playback_queued() is None  # not open
    audio.open()
    try:
        assert audio.playback_queued() is None  # not started: nothing to keep in a band yet
        for _ in range(3):
            audio.write(audio.to_frames(np.zeros(2400, dtype=np.int16)))
        queued = audio.playback_queued()
        assert queued is not None and 0 < queued <= 3 * 2400
        assert poll(lambda: (audio.playback_queued() or 0) < queued), "the speaker plays in real time"
        assert poll(lambda: audio.playback_queued() is None), "played out: an underrun stops the stream"
    finally:
        audio.close()
    assert audio.playback_queued() is None


def test_playback_queued_is_none_for_a_speaker_without_a_clock(devices: Path) -> None:
    audio = AlsaAudio(settings())  # the file plugin over null takes everything at once
    audio.open()
    try:
        audio.write(audio.to_frames(np.zeros(480, dtype=np.int16)))
        assert audio.playback_queued() is None
    finally:
        audio.close()


def poll(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
