"""Latency figures the daemon keeps about itself (for ``ctl status`` and ``edge-agent bench audio``).

Three series, in milliseconds, each written by one thread:

* ``mic_to_wire`` (event loop): from the ALSA read that completed an uplink chunk to the end of
  its ``send_realtime_input`` on the WebSocket.
* ``wire_to_speaker`` (audio thread): from the reply message's arrival to the ALSA write of its
  first sample, beyond the wait the jitter buffer imposes on purpose (the audio queued ahead
  of it, and the prebuffer filling): the pipeline's own delay.
* ``flush`` (audio thread): from the arrival of ``interrupted`` to the first silent period
  written to the speaker.

Each series is a fixed ring of the newest :data:`KEEP` values (numpy, no growth). A reader on
another thread may miss the value being written; never a torn one (a float store is atomic
under the GIL).
"""

from __future__ import annotations

import numpy as np

KEEP = 4096
"""Values kept per series."""


class Series:
    """The newest :data:`KEEP` values of one latency, in ms. One writer thread; readers anywhere."""

    def __init__(self, keep: int = KEEP) -> None:
        self._values = np.zeros(keep, dtype=np.float64)
        self.count = 0
        """Values added since start (not capped)."""

    def add(self, ms: float) -> None:
        """Record one value. O(1), no allocation."""
        self._values[self.count % self._values.size] = ms
        self.count += 1

    def values(self) -> np.ndarray:
        """A copy of the kept values (oldest first is not guaranteed)."""
        return self._values[: min(self.count, self._values.size)].copy()

    def summary(self) -> dict[str, float]:
        """``{"p50": …, "p99": …, "max": …, "n": …}`` in ms rounded to 0.1, or ``{}`` with no values."""
        values = self.values()
        if values.size == 0:
            return {}
        p50, p99 = np.percentile(values, [50, 99])
        return {
            "p50": round(float(p50), 1),
            "p99": round(float(p99), 1),
            "max": round(float(values.max()), 1),
            "n": int(values.size),
        }


class Latency:
    """The daemon's three latency series (see the module docstring)."""

    def __init__(self) -> None:
        self.mic_to_wire = Series()
        self.wire_to_speaker = Series()
        self.flush = Series()

    def summary(self) -> dict[str, dict[str, float]]:
        """Each series' :meth:`Series.summary`, by name."""
        return {
            "mic_to_wire_ms": self.mic_to_wire.summary(),
            "wire_to_speaker_ms": self.wire_to_speaker.summary(),
            "flush_ms": self.flush.summary(),
        }
