"""Short local sounds that need no network: the device's own voice when the model cannot speak.

Generated with numpy at the reply rate (24 kHz, 16-bit mono) so they go through the same
playback path as the model's audio.
"""

from __future__ import annotations

import numpy as np

RATE = 24000

_NOTES: dict[str, tuple[tuple[float, float], ...]] = {
    # (frequency Hz, seconds) — silence is frequency 0.
    "budget": ((880.0, 0.12), (0.0, 0.06), (660.0, 0.12), (0.0, 0.06), (440.0, 0.2)),  # falling: "no more today"
    "muted": ((330.0, 0.15),),  # one low blip: "I can't hear you, I'm muted"
    "unmuted": ((440.0, 0.08), (0.0, 0.04), (660.0, 0.1)),
}


def notice(name: str) -> bytes:
    """The PCM (24 kHz, 16-bit LE mono) of notice ``name``; KeyError if unknown."""
    parts = []
    for freq, seconds in _NOTES[name]:
        t = np.arange(int(RATE * seconds)) / RATE
        tone = np.sin(2 * np.pi * freq * t) if freq else np.zeros_like(t)
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms ramps: no clicks
        parts.append(tone * fade)
    return (np.concatenate(parts) * 0.25 * 32767).astype("<i2").tobytes()  # -12 dBFS
