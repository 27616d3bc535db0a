"""The doctor's audio checks: capture device, playback device and the speaker → microphone echo path.

Pi backend: the real ALSA devices (or ``DoctorContext.audio_factory``'s); simulated backend: the WAV files
``simulated.mic_wav`` / ``simulated.speaker_wav`` (no echo path). Also the pure signal helpers the checks
use and the tests exercise directly: :func:`tone_samples` and :func:`estimate_echo`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_agent.audio_device import AudioDevice
from edge_agent.doctor_types import CheckResult, DoctorContext, Status
from edge_agent.errors import ConfigError
from edge_agent.pcm import Samples, rms_dbfs
from edge_agent.settings import AudioSettings, Settings

__all__ = [
    "EchoEstimate",
    "check_capture",
    "check_echo",
    "check_playback",
    "estimate_echo",
    "tone_samples",
]

ARECORD_HINT = (
    "`edge-agent devices` (or `arecord -L`) lists the capture devices; a plughw:CARD=…,DEV=… or default name "
    "lets ALSA convert"
)
APLAY_HINT = (
    "`edge-agent devices` (or `aplay -L`) lists the playback devices; a plughw:CARD=…,DEV=… or default name "
    "lets ALSA convert"
)
SILENCE_DBFS = -90.0
"""Below this capture level the microphone delivers digital silence."""
ECHO_WARN_DB = -20.0
"""Echo coupling above this (speaker → microphone, relative to what was played) gets a WARN."""

# --- 3.-5. Audio ------------------------------------------------------------------------------------------


def _audio(settings: AudioSettings, ctx: DoctorContext) -> AudioDevice:
    if ctx.audio_factory is not None:
        return ctx.audio_factory(settings)
    from edge_agent.hardware.alsa_audio import AlsaAudio  # lazy: needs libasound

    return AlsaAudio(settings)


class _Granted(logging.Handler):
    """Collects AlsaAudio's "granted … instead of …" warnings logged by this thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and "granted" in record.getMessage():
            self.notes.append(record.getMessage())


@contextlib.contextmanager
def _granted() -> Iterator[_Granted]:
    handler = _Granted()
    logger = logging.getLogger("edge_agent.hardware.alsa_audio")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def check_capture(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """The microphone opens at the requested format and hears something (about 1 s is read).

    Pi backend: opens ``audio.capture_device`` (with a ``null`` playback side), reports what ALSA granted
    and the level in dBFS; FAIL when it cannot open, WARN below -90 dBFS (digital silence). Simulated
    backend: ``simulated.mic_wav`` is a readable 16-bit WAV (its level is reported).
    """
    name = "capture device"
    if settings.hardware.backend == "simulated":
        from edge_agent.hardware.simulated import MIC_RATE, read_wav_mono

        path = settings.simulated.mic_wav
        if path is None:
            return CheckResult(name, Status.PASS, "simulated microphone: silence (simulated.mic_wav not set)")
        try:
            mic = read_wav_mono(path, MIC_RATE, source=settings.source, key="simulated.mic_wav")
        except ConfigError as e:
            return CheckResult(
                name, Status.FAIL, str(e), 'set simulated.mic_wav to a readable 16-bit PCM WAV file (or to "")'
            )
        return _level_result(name, f"simulated microphone {path}: {mic.size / MIC_RATE:.1f} s", rms_dbfs(mic))
    audio_settings = settings.audio.model_copy(update={"playback_device": "null"})
    device = settings.audio.capture_device
    audio = _audio(audio_settings, ctx)
    try:
        with _granted() as granted:
            audio.open()
        rate = audio.capture_rate
        chunks: list[Samples] = []
        got = 0
        deadline = time.monotonic() + 3.0
        while got < rate and time.monotonic() < deadline:
            chunk = audio.to_samples(audio.read())
            chunks.append(chunk)
            got += chunk.size
    except Exception as e:  # AudioDeviceError, or libasound missing (ImportError)
        return CheckResult(name, Status.FAIL, str(e), _device_hint(e, "capture", device, ARECORD_HINT))
    finally:
        audio.close()
    fmt = "; ".join(granted.notes) or f"S16_LE {rate} Hz {settings.audio.capture_channels} ch"
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return _level_result(name, f"{device!r} opened ({fmt}); read {samples.size / rate:.2f} s", rms_dbfs(samples))


def _device_hint(error: Exception, direction: str, device: str, listing: str) -> str:
    if "busy" in str(error).lower():
        return (
            f"{device!r} is busy: stop edge-agent (`sudo systemctl stop edge-agent`) or whatever holds it "
            "(`fuser -v /dev/snd/*`), or use a dsnoop/dmix device such as default"
        )
    return f"check audio.{direction}_device ({device!r}): {listing}"


def _level_result(name: str, what: str, level: float) -> CheckResult:
    detail = f"{what}, level {level:.1f} dBFS"
    if level < SILENCE_DBFS:
        return CheckResult(
            name,
            Status.WARN,
            f"{detail}: microphone hears nothing — muted or wrong device?",
            "unmute and raise the capture level (`alsamixer`, F4 = capture) or pick another device from `arecord -L`",
        )
    return CheckResult(name, Status.PASS, detail)


def tone_samples(rate: int, seconds: float = 0.3, frequency: float = 440.0, dbfs: float = -20.0) -> Samples:
    """A sine whose ``rms_dbfs`` is ``dbfs`` (peak 3 dB higher), with 5 ms fades so it does not click."""
    n = round(rate * seconds)
    amplitude = 32768.0 * 10 ** (dbfs / 20) * np.sqrt(2.0)
    wave = amplitude * np.sin(2 * np.pi * frequency * np.arange(n) / rate)
    ramp = min(n // 2, round(rate * 0.005))
    envelope = np.ones(n)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[n - ramp :] = np.linspace(1.0, 0.0, ramp)
    tone: Samples = np.round(wave * envelope).astype(np.int16)
    return tone


def check_playback(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """The speaker plays a 0.3 s 440 Hz tone at -20 dBFS (PASS when the writes succeed).

    Pi backend: opens ``audio.playback_device`` (with a ``null`` capture side). Simulated backend: the
    directory of ``simulated.speaker_wav`` is writable (nothing is written; the WAV is not touched).
    """
    name = "playback device"
    if settings.hardware.backend == "simulated":
        return _check_speaker_wav(name, settings.simulated.speaker_wav)
    audio_settings = settings.audio.model_copy(update={"capture_device": "null"})
    device = settings.audio.playback_device
    audio = _audio(audio_settings, ctx)
    try:
        with _granted() as granted:
            audio.open()
        rate = audio.playback_rate
        tone = tone_samples(rate)
        period = max(1, rate * settings.audio.period_ms // 1000)
        for start in range(0, tone.size, period):
            audio.write(audio.to_frames(tone[start : start + period]))
        audio.close()  # drains: the whole tone plays
    except Exception as e:  # AudioDeviceError, or libasound missing (ImportError)
        return CheckResult(name, Status.FAIL, str(e), _device_hint(e, "playback", device, APLAY_HINT))
    finally:
        audio.close()
    fmt = "; ".join(granted.notes) or f"S16_LE {rate} Hz {settings.audio.playback_channels} ch"
    return CheckResult(
        name, Status.PASS, f"{device!r} opened ({fmt}); played a 0.3 s 440 Hz beep at -20 dBFS (heard it?)"
    )


def _check_speaker_wav(name: str, path: Path | None) -> CheckResult:
    if path is None:
        return CheckResult(name, Status.PASS, "simulated speaker: discarded (simulated.speaker_wav not set)")
    hint = "set simulated.speaker_wav to a path in a directory this user can write"
    if path.is_dir():
        return CheckResult(name, Status.FAIL, f"simulated.speaker_wav {path} is a directory", hint)
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the daemon creates the missing directories
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return CheckResult(name, Status.FAIL, f"cannot write into {existing} (for {path})", hint)
    if path.exists() and not os.access(path, os.W_OK):
        return CheckResult(name, Status.FAIL, f"{path} exists and is not writable", hint)
    return CheckResult(name, Status.PASS, f"simulated speaker → {path} (directory writable)")


@dataclass(frozen=True)
class EchoEstimate:
    """The strongest echo of the played signal in the captured one.

    ``coupling_db``: echo level at the microphone relative to the signal sent to the speaker, from the
    impulse response around the strongest tap (±1 ms, noise-corrected): the direct path, not the room's
    reverberation. ``floor_db``: the smallest coupling this measurement could have detected.
    """

    detected: bool
    delay_ms: float
    coupling_db: float
    floor_db: float


def estimate_echo(
    reference: npt.NDArray[Any], captured: npt.NDArray[Any], rate: int, *, max_delay_s: float = 0.45
) -> EchoEstimate:
    """Find ``reference`` (white noise as played, at the capture ``rate``) in ``captured``. Pure.

    The cross-correlation divided by the reference's energy estimates the speaker→microphone impulse
    response at lags 0…``max_delay_s``; its strongest tap is an echo when it stands 6 robust standard
    deviations above the rest.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cap = np.asarray(captured, dtype=np.float64)
    energy = float(np.dot(ref, ref))
    if energy == 0.0 or not np.any(cap):
        return EchoEstimate(False, 0.0, float("-inf"), float("-inf"))
    max_lag = max(0, min(round(max_delay_s * rate), cap.size - 1))
    nfft = 1 << (cap.size + ref.size - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(cap, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)[: max_lag + 1]
    h = xc / energy
    sigma = float(np.median(np.abs(h))) / 0.6745
    threshold = 6.0 * sigma
    floor_db = 20.0 * float(np.log10(max(threshold, 1e-12)))
    peak = int(np.argmax(np.abs(h)))
    if abs(float(h[peak])) <= threshold:
        return EchoEstimate(False, 0.0, float("-inf"), floor_db)
    half = max(1, round(0.001 * rate))
    window = h[max(0, peak - half) : peak + half + 1]
    power = max(float(np.sum(window**2)) - window.size * sigma**2, float(h[peak]) ** 2)
    return EchoEstimate(True, 1000.0 * peak / rate, 10.0 * float(np.log10(power)), floor_db)


def check_echo(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """Informative: how loudly the microphone hears the speaker (pi backend only; SKIP when simulated).

    Plays 0.2 s silence, a 1 s white-noise burst at -20 dBFS and 0.5 s silence while capturing in lockstep
    (like the audio thread), then :func:`estimate_echo`. WARN when the coupling is above -20 dB (an open
    speaker next to the microphone: the model may hear itself); PASS otherwise.
    """
    name = "echo path"
    if settings.hardware.backend == "simulated":
        return CheckResult(name, Status.SKIP, "simulated backend: no acoustic path")
    import soxr

    audio = _audio(settings.audio, ctx)
    try:
        audio.open()
        cap_rate, play_rate = audio.capture_rate, audio.playback_rate
        noise = np.random.default_rng(0).normal(0.0, 32768.0 * 0.1, play_rate)  # RMS -20 dBFS
        burst = np.clip(np.round(noise), -32768, 32767).astype(np.int16)
        silence = np.zeros(play_rate // 5, dtype=np.int16)
        played = np.concatenate([silence, burst, np.zeros(play_rate // 2, dtype=np.int16)])
        period = max(1, play_rate * settings.audio.period_ms // 1000)
        # Keep the speaker fed from the first read on.
        audio.write(audio.to_frames(np.zeros(2 * period, dtype=np.int16)))
        chunks: list[Samples] = []
        for start in range(0, played.size, period):
            chunks.append(audio.to_samples(audio.read()))
            audio.write(audio.to_frames(played[start : start + period]))
    except Exception as e:
        return CheckResult(
            name,
            Status.FAIL,
            f"could not play and capture together: {e}",
            "check audio.capture_device and audio.playback_device: `edge-agent devices` lists the devices",
        )
    finally:
        audio.close()
    reference = soxr.resample(played.astype(np.float32), play_rate, cap_rate)
    captured = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    echo = estimate_echo(reference, captured, cap_rate)
    if not echo.detected:
        below = "microphone silent" if echo.floor_db == float("-inf") else f"coupling below {echo.floor_db:.0f} dB"
        return CheckResult(name, Status.PASS, f"no echo of the test noise at the microphone ({below})")
    detail = f"speaker → microphone: delay {echo.delay_ms:.1f} ms, coupling {echo.coupling_db:.1f} dB"
    if echo.coupling_db > ECHO_WARN_DB:
        return CheckResult(
            name,
            Status.WARN,
            f"{detail}: the microphone hears the speaker loudly (no echo cancellation yet)",
            'use listening.mode = "on_wake", turn the volume down, or move the speaker away from the microphone',
        )
    return CheckResult(name, Status.PASS, detail)
