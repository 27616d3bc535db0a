"""The audio thread: capture and playback in lockstep, bridged to the event loop in one place.

One dedicated thread, paced by the capture device, does per period (e.g. 10 ms):
read one capture period → pop one period of reply audio from the jitter buffer →
write it to the speaker → resample the capture frame to 16 kHz and cut it into
uplink chunks. Finished chunks cross into the event loop only through
:meth:`AudioEngine._post` (``loop.call_soon_threadsafe``). The loop never blocks on
a device, and a failing device is closed, reported and reopened with backoff; it
never ends the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from edge_agent.errors import HardwareError
from edge_agent.pcm import Chunker, PlaybackBuffer, Samples, StreamResampler, as_samples

_LOGGER = logging.getLogger(__name__)

UPLINK_RATE = 16000
"""The Live API's native input rate (``audio/pcm;rate=16000``)."""
REPLY_RATE = 24000
"""The Live API's output rate (``audio/pcm;rate=24000``)."""


class AudioDevice(Protocol):
    """A microphone + speaker pair driven one period at a time by the audio thread.

    Implementations: :class:`edge_agent.hardware.alsa_audio.AlsaAudio` (pyalsaaudio) and
    :class:`edge_agent.hardware.simulated.SimulatedAudio` (WAV files, real-time pacing).
    All methods are called from the audio thread only.
    """

    name: str
    capture_rate: int
    """Granted capture rate; valid after :meth:`open`."""
    playback_rate: int
    """Granted playback rate; valid after :meth:`open`."""

    def open(self) -> None:
        """Open both directions; raise :class:`HardwareError` naming the device on failure."""

    def read(self) -> Samples:
        """Block for about one period; return mono int16 samples at ``capture_rate``."""

    def write(self, samples: Samples) -> None:
        """Queue mono int16 samples at ``playback_rate`` for the speaker."""

    def close(self) -> None:
        """Release the device. Idempotent."""


class AudioEngine:
    """Owns the audio thread, the playback jitter buffer and the uplink chunker.

    Thread contract: :meth:`play`, :meth:`finish`, :meth:`flush` and the
    ``uplink_enabled`` flag are used from the event loop; callbacks ``on_chunk``
    (a 16 kHz chunk as bytes) and ``on_drained`` run on the event loop.
    """

    def __init__(
        self,
        device: AudioDevice,
        *,
        loop: asyncio.AbstractEventLoop,
        period_ms: int,
        chunk_ms: int,
        prebuffer_ms: int,
        on_chunk: Callable[[bytes], None],
        on_drained: Callable[[], None],
    ) -> None:
        self.device = device
        self.period_ms = period_ms
        self.uplink_enabled = False
        """Set on the loop; read by the audio thread (a plain bool is atomic under the GIL)."""
        self.device_ok = False
        self.last_cycle = 0.0
        """time.monotonic() of the last completed cycle (for a watchdog)."""
        self.chunks_sent = 0
        self._loop = loop
        self._on_chunk = on_chunk
        self._on_drained = on_drained
        self._buffer = PlaybackBuffer(REPLY_RATE * prebuffer_ms // 1000, on_drained=self._drained)
        self._chunker = Chunker(UPLINK_RATE * chunk_ms // 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ loop side

    @property
    def underruns(self) -> int:
        """Periods where reply audio ran out mid-turn."""
        return self._buffer.underruns

    @property
    def samples_played(self) -> int:
        """Reply samples (24 kHz) handed to the speaker so far."""
        return self._buffer.samples_played

    def play(self, pcm: bytes) -> None:
        """Queue 24 kHz reply audio. Thread: event loop. Never blocks."""
        self._buffer.push(as_samples(pcm))

    def finish(self) -> None:
        """End of turn: play out what is queued, then call ``on_drained``. Idempotent."""
        self._buffer.finish()

    def flush(self) -> int:
        """Drop all queued reply audio now; returns samples dropped. Idempotent."""
        return self._buffer.flush()

    def start(self) -> None:
        """Start the audio thread (it opens the device, retrying while it fails)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audio", daemon=True)
            self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the audio thread is running (False before start and after it died)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the device. Blocks up to ``timeout``. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _LOGGER.error("audio thread did not stop within %.1f s", timeout)

    # ---------------------------------------------------------- thread side

    def _post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the event loop: the one bridge out of the audio thread."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: we are shutting down
            self._stop.set()

    def _drained(self) -> None:
        self._post(self._on_drained)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.device.open()
            except Exception as e:  # missing, busy, or an unexpected fault: retried, never fatal
                self.device_ok = False
                _LOGGER.error(
                    "audio device %s unavailable: %s; retry in %.0f s",
                    self.device.name,
                    e,
                    delay,
                    exc_info=not isinstance(e, HardwareError),
                    extra={"DEVICE": self.device.name},
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.device_ok = True
            try:
                self._cycles()
                delay = 0.5
            except Exception as e:  # a device fault must never end the daemon
                _LOGGER.error("audio device %s failed: %s; reopening in %.0f s", self.device.name, e, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
            finally:
                self.device_ok = False
                self.device.close()

    def _cycles(self) -> None:
        device = self.device
        to_uplink = StreamResampler(device.capture_rate, UPLINK_RATE)
        to_speaker = StreamResampler(REPLY_RATE, device.playback_rate)
        reply = np.zeros(REPLY_RATE * self.period_ms // 1000, dtype=np.int16)
        was_uplink = False
        _LOGGER.info(
            "audio open: %s (capture %d Hz, playback %d Hz, %d ms periods)",
            device.name,
            device.capture_rate,
            device.playback_rate,
            self.period_ms,
        )
        while not self._stop.is_set():
            captured = device.read()
            self._buffer.pop(reply)
            device.write(to_speaker.process(reply))
            uplink = self.uplink_enabled
            if uplink and not was_uplink:
                to_uplink.reset()  # no audio from before the uplink opened (e.g. while muted)
            was_uplink = uplink
            frame = to_uplink.process(captured)
            if uplink:
                for chunk in self._chunker.push(frame):
                    self.chunks_sent += 1
                    self._post(self._on_chunk, chunk)
            else:
                self._chunker.reset()
            self.last_cycle = time.monotonic()
