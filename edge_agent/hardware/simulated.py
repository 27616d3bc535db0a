"""Simulated hardware that keeps real time: a WAV microphone, a WAV speaker, a GPIO log.

Used by ``hardware.backend = "simulated"``, by ``edge-agent demo`` and by the tests.
Like real devices, the microphone delivers 16 000 samples a second and the speaker
consumes 24 000; :meth:`SimulatedAudio.read` sleeps until the period is due.
"""

from __future__ import annotations

import json
import threading
import time
import wave
from pathlib import Path
from typing import IO

import numpy as np
import soxr

from edge_agent.errors import ConfigError
from edge_agent.pcm import Frames, Samples, as_samples

MIC_RATE = 16000
SPEAKER_RATE = 24000


def read_wav_mono(path: Path, rate: int, *, source: str, key: str) -> Samples:
    """Read a 16-bit PCM WAV as mono int16 at ``rate`` (mixing channels, resampling with soxr HQ).

    Raises :class:`ConfigError` naming ``key`` when the file is missing or not 16-bit PCM.
    """
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, in_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise ConfigError(source, key, "a readable 16-bit PCM WAV file", f"{str(path)!r}: {e}") from e
    if width != 2:
        raise ConfigError(source, key, "a 16-bit PCM WAV file", f"{str(path)!r} with {8 * width}-bit samples")
    samples = np.frombuffer(raw, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if in_rate != rate:
        samples = soxr.resample(samples, in_rate, rate, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.int16)


def write_wav(path: Path, samples: Samples, rate: int) -> Path:
    """Write mono int16 ``samples`` as a 16-bit WAV at ``rate`` (creating the directory); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2", copy=False).tobytes())
    return path


class SimulatedAudio:
    """Microphone from a WAV (then silence), speaker into a 24 kHz 16-bit WAV.

    Implements :class:`edge_agent.audio_device.AudioDevice`. Thread: the audio thread,
    except the constructor. ``close`` finalises the WAV header, so the file is valid
    after any clean exit.
    """

    name = "simulated"

    def __init__(self, mic: Samples | None, speaker_wav: Path | None, *, period_ms: int, source: str) -> None:
        self.capture_rate = MIC_RATE
        self.playback_rate = SPEAKER_RATE
        self.speaker_frames = 0
        self.mic_frames = 0
        self.overruns = 0
        """Always 0: the WAV microphone cannot overrun."""
        self.underruns = 0
        """Always 0: the WAV speaker cannot underrun."""
        self._mic = b"" if mic is None else np.ascontiguousarray(mic, dtype="<i2").tobytes()
        self._period = MIC_RATE * period_ms // 1000
        self._silence = bytes(2 * self._period)
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self._wav: wave.Wave_write | None = None
        if speaker_wav is not None:
            try:
                speaker_wav.parent.mkdir(parents=True, exist_ok=True)
                self._wav = wave.open(str(speaker_wav), "wb")  # noqa: SIM115 - open for the daemon's life
            except OSError as e:
                raise ConfigError(source, "simulated.speaker_wav", "a writable file path", f"{e}") from e
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(SPEAKER_RATE)

    def open(self) -> None:
        """Start the clock (nothing else to open)."""
        self._deadline = None

    def read(self) -> bytes:
        """Return the next period of the microphone WAV (or silence) as raw mono frames, on schedule."""
        now = time.monotonic()
        if self._deadline is None or now - self._deadline > 0.25:  # first call, or we stalled: resync
            self._deadline = now
        self._deadline += self._period / MIC_RATE
        if (delay := self._deadline - now) > 0:
            time.sleep(delay)
        start = self.mic_frames
        self.mic_frames += self._period
        chunk = self._mic[2 * start : 2 * (start + self._period)]
        return chunk + self._silence[: 2 * self._period - len(chunk)]

    def to_samples(self, raw: bytes) -> Samples:
        """Mono int16 from raw frames (the WAV microphone is mono)."""
        return as_samples(raw)

    def to_frames(self, samples: Samples) -> Samples:
        """Raw frames for mono int16 (the WAV speaker is mono): the samples, contiguous."""
        return np.ascontiguousarray(samples, dtype="<i2")

    def write(self, frames: Frames) -> None:
        """Append raw mono frames the speaker plays to the WAV."""
        data = (frames.data if isinstance(frames, np.ndarray) else memoryview(frames)).cast("B")
        with self._lock:
            if self._wav is not None:
                self._wav.writeframesraw(data)
            self.speaker_frames += len(data) // 2

    def playback_queued(self) -> None:
        """None: the WAV speaker has no buffer to keep in a band (it consumes exactly what is read)."""
        return None

    def close(self) -> None:
        """Finalise the speaker WAV. Idempotent."""
        with self._lock:
            if self._wav is not None:
                self._wav.close()
                self._wav = None


class GpioLog:
    """Writes ``simulated.gpio_log``: one JSON object per output change, flushed per line.

    Fields: ``time`` (Unix seconds), ``output`` (name), ``pin`` (BCM), ``state`` (bool).
    Thread: the event loop (outputs are only switched there).
    """

    def __init__(self, path: Path, *, source: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = path.open("w", encoding="utf-8")
        except OSError as e:
            raise ConfigError(source, "simulated.gpio_log", "a writable file path", f"{e}") from e

    def __call__(self, name: str, pin: int, state: bool) -> None:
        """Record one change."""
        if self._file is not None:
            record = {"time": round(time.time(), 6), "output": name, "pin": pin, "state": state}
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file. Idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None
