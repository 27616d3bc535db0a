"""AlsaAudio against real pyalsaaudio on virtual ALSA devices (file/null plugins, no sound card)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import AudioDeviceError
from edge_agent.hardware.alsa_audio import AlsaAudio
from edge_agent.settings import AudioSettings

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


def settings(**overrides: object) -> AudioSettings:
    base: dict[str, object] = {
        "capture_device": "fakemic",
        "capture_rate": 48000,
        "playback_device": "fakespk",
        "playback_rate": 48000,
    }
    return AudioSettings(**{**base, **overrides})  # type: ignore[arg-type]


def test_reads_capture_periods_and_writes_playback(devices: Path) -> None:
    audio = AlsaAudio(settings())
    audio.open()
    try:
        assert (audio.capture_rate, audio.playback_rate) == (48000, 48000)
        frames = [audio.read() for _ in range(10)]
        assert [f.size for f in frames] == [480] * 10  # 10 ms periods
        expected = (np.arange(4800) % 2000 - 1000).astype(np.int16)
        assert np.array_equal(np.concatenate(frames), expected)
        out = np.arange(960, dtype=np.int16)
        audio.write(out)
    finally:
        audio.close()
        audio.close()  # idempotent
    assert np.array_equal(np.frombuffer((devices / "spk.raw").read_bytes(), dtype="<i2"), out)


def test_stereo_playback_duplicates_the_mono_reply(devices: Path) -> None:
    audio = AlsaAudio(settings(playback_channels=2))
    audio.open()
    audio.write(np.array([1, 2, 3], dtype=np.int16))
    audio.close()
    assert np.frombuffer((devices / "spk.raw").read_bytes(), dtype="<i2").tolist() == [1, 1, 2, 2, 3, 3]


def test_an_unknown_device_name_is_a_clear_error(devices: Path) -> None:
    audio = AlsaAudio(settings(capture_device="nosuchmic"))
    with pytest.raises(AudioDeviceError, match="capture device 'nosuchmic'"):
        audio.open()
