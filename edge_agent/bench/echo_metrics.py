"""Measuring echo cancellation from outside: the room's microphone against what reached the server.

Pure numpy; used by ``edge-agent bench audio`` and the end-to-end tests. The two records are
lined up by the user's voice (the room knows exactly what it added, and every echo mode lets
the user through while the speaker is quiet), then, in 10 ms blocks:

* **ERLE** = mic power / sent power over the echo-only blocks, from ``settle_s`` after the first
  echo (AEC3's convergence), in dB;
* **voice kept** = sent power / added voice power over the voice-only blocks, in dB, and the
  correlation of their log band energies (the voice's spectral shape, blind to the phase
  changes of the high-pass filter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BLOCK = 160
"""Samples per 10 ms block at 16 kHz."""


def lag(reference: npt.ArrayLike, signal: npt.ArrayLike) -> int:
    """The L for which ``signal[i]`` best matches ``reference[i + L]`` (FFT cross-correlation). Pure."""
    ref = np.asarray(reference, dtype=np.float64)
    sig = np.asarray(signal, dtype=np.float64)
    n = 1 << int(np.ceil(np.log2(max(2, ref.size + sig.size))))
    xc = np.fft.irfft(np.fft.rfft(ref, n) * np.conj(np.fft.rfft(sig, n)), n)
    k = int(np.argmax(np.abs(xc)))
    return k if k < n // 2 else k - n


def power(x: npt.ArrayLike) -> float:
    """Mean square (0.0 for nothing)."""
    a = np.asarray(x, dtype=np.float64)
    return float(np.mean(np.square(a))) if a.size else 0.0


def ratio_db(a: float, b: float) -> float:
    """10·log10(a / b), with b floored at a -120 dBFS-ish 1e-6 so digital silence stays finite."""
    return 10.0 * float(np.log10(max(a, 1e-6) / max(b, 1e-6)))


def active_span(x: npt.ArrayLike, floor_dbfs: float = -50.0) -> tuple[int, int] | None:
    """First and end sample of the 10 ms blocks louder than ``floor_dbfs`` (None if none is)."""
    a = np.asarray(x, dtype=np.float64)
    blocks = a[: a.size // BLOCK * BLOCK].reshape(-1, BLOCK)
    loud = np.flatnonzero(10 * np.log10(np.mean(blocks**2, axis=1) / 32768**2 + 1e-12) > floor_dbfs)
    if loud.size == 0:
        return None
    return int(loud[0]) * BLOCK, int(loud[-1] + 1) * BLOCK


def spectrum_match(a: npt.ArrayLike, b: npt.ArrayLike, bands: int = 32) -> float:
    """Correlation of the log energies in ``bands`` equal bands of two signals (1.0 = same shape)."""
    sa, sb = (np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2 for x in (a, b))
    edges = np.linspace(0, min(sa.size, sb.size), bands + 1, dtype=int)[1:]  # the first band holds DC and hum
    la = [np.log10(sa[i:j].sum() + 1.0) for i, j in zip(edges[:-1], edges[1:], strict=True)]
    lb = [np.log10(sb[i:j].sum() + 1.0) for i, j in zip(edges[:-1], edges[1:], strict=True)]
    return float(np.corrcoef(la, lb)[0, 1])


@dataclass(frozen=True)
class EchoFigures:
    """The outside view of one run. dB values are None where the part was not found."""

    erle_db: float | None
    """Mic / sent power over the echo-only part after ``settle_s``."""
    erle_median_db: float | None
    """The median of that ratio over each second's echo-only blocks: what the canceller does most of
    the time, where ``erle_db`` is dominated by its worst moments (re-converging after a glitch)."""
    echo_over_voice_db: float | None
    """How much louder the echo was than the user's voice at the microphone."""
    voice_kept_db: float | None
    """Sent / added voice power while only the user speaks (0 = untouched)."""
    voice_shape: float | None
    """:func:`spectrum_match` of the sent and the added voice."""
    shift: int
    """The room record's offset against the sent audio, in samples."""


def _block_power(x: np.ndarray) -> np.ndarray:
    """Mean square of each 10 ms block."""
    blocks = x[: x.size // BLOCK * BLOCK].reshape(-1, BLOCK)
    powers: np.ndarray = np.mean(blocks**2, axis=1)
    return powers


def _dbfs(powers: np.ndarray) -> np.ndarray:
    levels: np.ndarray = 10 * np.log10(powers / 32768**2 + 1e-12)
    return levels


def measure(
    mic: npt.ArrayLike, echo: npt.ArrayLike, voice: npt.ArrayLike, sent: npt.ArrayLike, *, settle_s: float = 1.5
) -> EchoFigures:
    """Compare a room's record with what reached the server. Pure.

    ``mic`` (everything the room wrote), ``echo`` and ``voice`` (the parts it added) are
    sample-aligned; ``sent`` is what the server received; all 16 kHz. Echo-only blocks are those
    where the echo is louder than -50 dBFS and the voice absent, from ``settle_s`` after the
    first echo; voice-only blocks the reverse (the echo below -70 dBFS).
    """
    m, e, v, s = (np.asarray(x, dtype=np.float64) for x in (mic, echo, voice, sent))
    shift = lag(v, s) if power(v) > 0 else 0
    if shift >= 0:
        m, e, v = m[shift:], e[shift:], v[shift:]
    else:
        s = s[-shift:]
    n = min(m.size, s.size) // BLOCK * BLOCK
    m, e, v, s = m[:n], e[:n], v[:n], s[:n]
    mic_power, sent_power = _block_power(m), _block_power(s)
    echo_db, voice_db = _dbfs(_block_power(e)), _dbfs(_block_power(v))
    echo_blocks = (echo_db > -50) & (voice_db < -90)
    if echo_blocks.any():
        echo_blocks[: int(np.argmax(echo_db > -50)) + int(settle_s * 100)] = False
    voice_blocks = (voice_db > -50) & (echo_db < -70)
    if voice_blocks.any():  # skip each utterance's first 100 ms (its onset may be half a block)
        voice_blocks &= np.concatenate([np.zeros(10, bool), (voice_db > -50)[:-10]])

    def pick(x: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        picked: np.ndarray = x.reshape(-1, BLOCK)[blocks].ravel()
        return picked

    erle = median = over = kept = shape = None
    if echo_blocks.sum() >= 100:
        erle = round(ratio_db(float(mic_power[echo_blocks].mean()), float(sent_power[echo_blocks].mean())), 1)
        seconds = []
        for first in range(0, echo_blocks.size, 100):  # each second's echo-only blocks
            window = echo_blocks[first : first + 100]
            if window.sum() >= 50:
                in_mic, in_sent = mic_power[first : first + 100][window], sent_power[first : first + 100][window]
                seconds.append(ratio_db(float(in_mic.mean()), float(in_sent.mean())))
        median = round(float(np.median(seconds)), 1) if seconds else None
        if (voice_db > -50).any():
            over = round(ratio_db(power(pick(e, echo_blocks)), power(pick(v, voice_db > -50))), 1)
    if voice_blocks.sum() >= 50:
        said, heard = pick(v, voice_blocks), pick(s, voice_blocks)
        kept = round(ratio_db(power(heard), power(said)), 1)
        shape = round(spectrum_match(heard, said), 3)
    return EchoFigures(erle, median, over, kept, shape, shift)
