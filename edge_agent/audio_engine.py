"""The audio thread: capture and playback in lockstep, bridged to the event loop in one place.

One dedicated thread, paced by the capture device, does per period (e.g. 10 ms) only what the
devices need: read one capture period, write one period of reply audio (or silence) to the
speaker, both as the device's raw bytes (no numpy call per period: on a small CPU the first one
after each wake-up costs tens of microseconds, more than the work). Once per batch (the uplink
chunk's length, e.g. 4 periods) it does the sample work: the capture periods are converted and
resampled to 16 kHz in one call, given the input gain and measured, and cut into 10 ms frames
for the echo handling, after the 10 ms reference frames of what was written to the speaker
meanwhile (exactly those samples, at the speaker's rate); then they leave as one uplink chunk.
Reply audio is fetched and resampled a batch at a time too
(:class:`~edge_agent.speaker_feed.SpeakerFeed`), but a flush silences the very next period.
Finished chunks cross into the event loop only through :meth:`AudioEngine._post`
(``loop.call_soon_threadsafe``). The loop never blocks on a device, and a failing device is
closed, reported and reopened with backoff; it never ends the daemon.

When the speaker reports its fill level (ALSA), the thread keeps it inside a band: a few
periods of silence are written at open so scheduling jitter never starves it, a period is
skipped when a slower speaker clock lets it fill up (so a write never blocks the capture
clock), and a period of silence is added when a faster one drains it. Mic and speaker on
one card never trigger either; two devices with clocks 100 ppm apart do about every 100 s.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_agent.audio_device import AudioDevice
from edge_agent.echo import NEAR_FRAME, Echo
from edge_agent.errors import HardwareError
from edge_agent.latency import Latency
from edge_agent.pcm import (
    Framer,
    PlaybackBuffer,
    Samples,
    StreamResampler,
    as_samples,
    frame_powers,
    power_dbfs,
)
from edge_agent.speaker_feed import REPLY_RATE, SpeakerFeed

_LOGGER = logging.getLogger(__name__)

UPLINK_RATE = 16000
"""The Live API's native input rate (``audio/pcm;rate=16000``)."""
PRIME_PERIODS = 4
"""Periods of silence written to a speaker that reports its fill level, when it opens: the headroom
for a late cycle. About ``PRIME_PERIODS - 1`` stay queued before each write; the band keeps the
one-second mean between ``PRIME_PERIODS - 1.5`` and ``PRIME_PERIODS + 0.5``."""
BAND_EVERY = 10
"""The speaker's fill level is read every this many periods (drift is slow; each reading costs a device call)."""
LATE_S = 0.05
"""A gap between capture reads longer than this is reported: the speaker's headroom is about 30 ms."""
LEVEL_FRAMES = 120
"""10 ms frames (1.2 s, a whole number of 20, 30 or 40 ms chunks) over which the mic level is reported."""


class _FillBand:
    """Keeps the speaker's fill level in a band against clock drift, not against jitter.

    A late cycle drains the speaker for a moment and the catch-up reads refill it, so single
    readings say nothing; the mean over ``window`` readings (1 s) does. Thread: the audio thread.
    """

    def __init__(self, period: int, window: int) -> None:
        self.low = period * (PRIME_PERIODS - 1.5)
        self.high = period * (PRIME_PERIODS + 0.5)
        self.window = window
        self._sum = 0
        self._count = 0

    def check(self, queued: int | None) -> int:
        """+1: skip this period's write (too full); -1: add a period of silence (too empty); 0: neither."""
        if queued is None:  # unknown, or restarting after an underrun: start a new window
            self._sum = self._count = 0
            return 0
        self._sum += queued
        self._count += 1
        if self._count < self.window:
            return 0
        mean = self._sum / self._count
        self._sum = self._count = 0
        return 1 if mean > self.high else -1 if mean < self.low else 0


class AudioEngine:
    """Owns the audio thread, the playback jitter buffer, the echo handling and the uplink framing.

    Thread contract: :meth:`play`, :meth:`finish`, :meth:`flush` and the ``uplink_enabled``
    flag are used from the event loop; callbacks ``on_chunk(chunk, read_at)`` (a 16 kHz chunk as
    bytes, and the ``time.monotonic()`` of the capture read that completed it) and
    ``on_drained()`` run on the event loop. The status figures (``device_ok``, ``device_error``,
    ``mic_dbfs``, ``echo`` …) are written by the audio thread and may be read anywhere.
    """

    def __init__(
        self,
        device: AudioDevice,
        *,
        loop: asyncio.AbstractEventLoop,
        period_ms: int,
        chunk_ms: int,
        prebuffer_ms: int,
        on_chunk: Callable[..., None],
        on_drained: Callable[[], None],
        echo: Echo | None = None,
        input_gain_db: float = 0.0,
        latency: Latency | None = None,
    ) -> None:
        self.device = device
        self.period_ms = period_ms
        self.uplink_enabled = False
        """Set on the loop; read by the audio thread (a plain bool is atomic under the GIL)."""
        self.device_ok = False
        self.device_error = ""
        """Why the device is not open ('' while it is, or before the first try)."""
        self.last_cycle = 0.0
        """time.monotonic() of the last completed cycle (for a watchdog)."""
        self.chunks_sent = 0
        self.skipped_periods = 0
        """Playback periods skipped because a slower speaker clock let its buffer fill up."""
        self.padded_periods = 0
        """Periods of silence added because a faster speaker clock drained its buffer."""
        self.late_cycles = 0
        """Times a capture read came more than :data:`LATE_S` after the previous one (the loop was held up)."""
        self.echo = echo if echo is not None else Echo("off")
        self.latency = latency if latency is not None else Latency()
        self._gain = float(10 ** (input_gain_db / 20))
        self._loop = loop
        self._on_chunk = on_chunk
        self._on_drained = on_drained
        self._buffer = PlaybackBuffer(
            REPLY_RATE * prebuffer_ms // 1000, on_drained=self._buffer_drained, latency=self.latency
        )
        self._chunker = Framer(UPLINK_RATE * chunk_ms // 1000)
        self._batch = max(1, round(chunk_ms / period_ms))
        """Capture periods resampled and processed together, and reply periods fetched together."""
        self._feed: SpeakerFeed | None = None
        self._levels = np.zeros(LEVEL_FRAMES, dtype=np.float64)
        self._frames = 0
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

    @property
    def mic_dbfs(self) -> float:
        """The microphone's RMS level over the last 1.2 s, dBFS (after the input gain)."""
        return round(power_dbfs(float(self._levels.mean())), 1)

    @property
    def mic_peak_dbfs(self) -> float:
        """The loudest 10 ms of the last 1.2 s, dBFS RMS."""
        return round(power_dbfs(float(self._levels.max())), 1)

    def play(self, pcm: bytes, received_at: float | None = None) -> None:
        """Queue 24 kHz reply audio that arrived at ``received_at`` (monotonic). Thread: event loop. Never blocks."""
        self._buffer.push(as_samples(pcm), received_at)

    def finish(self) -> None:
        """End of turn: play out what is queued, then call ``on_drained``. Idempotent."""
        self._buffer.finish()

    def flush(self, received_at: float | None = None) -> int:
        """Drop all queued reply audio now; returns samples dropped. Idempotent.

        ``received_at``: when the ``interrupted`` that asked for it arrived (for the flush figure).
        """
        return self._buffer.flush(received_at)

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

    def _buffer_drained(self) -> None:
        """The jitter buffer's ``on_drained``: at once from the loop; from the audio thread, once the end is written."""
        feed = self._feed
        if feed is not None and threading.current_thread() is self._thread:
            feed.buffer_drained()
        else:
            self._drained()

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.device.open()
            except Exception as e:  # missing, busy, or an unexpected fault: retried, never fatal
                delay = self._fault("unavailable", e, delay)
                continue
            self.device_ok = True
            if self.device_error:
                _LOGGER.info("audio device %s is back", self.device.name, extra={"DEVICE": self.device.name})
            self.device_error = ""
            try:
                self._cycles()
                delay = 0.5
            except Exception as e:  # a device fault must never end the daemon
                self.device.close()
                delay = self._fault("failed", e, delay)
            finally:
                self.device_ok = False
                self.device.close()
                if self._feed is not None:
                    self._feed.close()  # a turn whose end was staged but never written is over too
                    self._feed = None

    def _fault(self, what: str, error: Exception, delay: float) -> float:
        """Report a device fault, wait ``delay`` (or until stopped); return the next, doubled delay."""
        self.device_ok = False
        self.device_error = str(error)
        _LOGGER.error(
            "audio device %s %s: %s; retry in %.1f s",
            self.device.name,
            what,
            error,
            delay,
            exc_info=not isinstance(error, HardwareError),
            extra={"DEVICE": self.device.name},
        )
        self._stop.wait(delay)
        return min(delay * 2, 30.0)

    def _cycles(self) -> None:
        device = self.device
        period = device.playback_rate * self.period_ms // 1000
        keep_refs = self.echo.mode != "off"  # with echo handling off nothing reads the reference
        feed = SpeakerFeed(
            self._buffer,
            rate=device.playback_rate,
            period=period,
            batch=self._batch,
            on_drained=self._drained,
            to_frames=device.to_frames,
            keep_written=keep_refs,
        )
        self._feed = feed
        to_uplink = StreamResampler(device.capture_rate, UPLINK_RATE)
        ref_frame = device.playback_rate // 100
        ref: Samples = np.zeros(0, dtype=np.int16)  # written to the speaker, not yet given to the echo handling
        captured: list[bytes] = []  # raw capture periods not yet converted and resampled
        band = _FillBand(period, 1000 // self.period_ms // BAND_EVERY)
        if device.playback_rate % 100:  # the reference goes to WebRTC in 10 ms frames of whole samples
            self.echo.fall_back(
                f"the speaker {device.name!r} runs at {device.playback_rate} Hz, which has no whole number of "
                "samples in 10 ms as WebRTC echo cancellation needs (use 16000, 24000, 44100 or 48000)"
            )

        _LOGGER.info(
            "audio open: %s (capture %d Hz, playback %d Hz, %d ms periods, echo %s)",
            device.name,
            device.capture_rate,
            device.playback_rate,
            self.period_ms,
            self.echo.mode,
        )
        if device.playback_queued() is not None:
            for _ in range(PRIME_PERIODS):
                device.write(feed.pad())
        was_uplink = False
        previous = done = time.monotonic()
        cycle = 0
        while not self._stop.is_set():  # per period: device calls and list appends only, no numpy
            raw = device.read()
            read_at = time.monotonic()
            if read_at - previous > LATE_S:
                self._late(read_at - previous, read_at - done)
            previous = read_at
            cycle += 1
            step = band.check(device.playback_queued()) if cycle % BAND_EVERY == 0 else 0
            if step > 0:
                self.skipped_periods += 1  # the reply waits one period; nothing is lost
            else:
                if step < 0:
                    self.padded_periods += 1
                    device.write(feed.pad())
                device.write(feed.next())
            uplink = self.uplink_enabled
            if uplink and not was_uplink:
                # Unmuted: nothing captured before goes up. Silenced rather than dropped, so the mic
                # audio stays in step with the reference for the echo canceller.
                captured[:] = [bytes(len(c)) for c in captured]
                to_uplink.reset()
                self._chunker.blank()
            was_uplink = uplink
            captured.append(raw)
            if len(captured) < self._batch:
                self.last_cycle = done = time.monotonic()
                continue
            block = device.to_samples(b"".join(captured) if len(captured) > 1 else captured[0])
            captured.clear()
            if keep_refs:
                ref = np.concatenate((ref, feed.written())) if ref.size else feed.written()
            for chunk in self._chunker.push(to_uplink.process(block)):  # usually one; none waits with its ref
                whole = ref.size - ref.size % ref_frame
                out = self._process(chunk, ref[:whole], device.playback_rate, uplink)
                ref = ref[whole:]
                if uplink:
                    self.chunks_sent += 1
                    self._post(self._on_chunk, out.tobytes(), read_at)
            self.last_cycle = done = time.monotonic()

    def _late(self, gap: float, in_read: float) -> None:
        self.late_cycles += 1
        _LOGGER.info(
            "audio thread ran late: %.0f ms between periods, %.0f ms of it in the capture read (%d so far)",
            gap * 1000,
            in_read * 1000,
            self.late_cycles,
        )

    def _process(self, chunk: Samples, ref: Samples, rate: int, uplink: bool) -> Samples:
        """Gain, level and echo handling for one uplink chunk of 10 ms, 16 kHz frames.

        The chunk's frames are processed together after ``ref``, the 10 ms frames written to the
        speaker (at ``rate``) meanwhile: the reference leads its echo, as AEC3 needs, and the
        canceller's state stays in the CPU cache for the whole chunk (half the cost of a call per period).
        While the chunk goes nowhere (``uplink`` off: standby, muted) and the speaker has been quiet
        for the hangover, the canceller is not run at all: an idle daemon does not pay for it.
        """
        if self._gain != 1.0:
            chunk = np.clip(chunk * np.float32(self._gain), -32768, 32767).astype(np.int16)
        powers = frame_powers(chunk, NEAR_FRAME)
        at = self._frames % LEVEL_FRAMES
        self._levels[at : at + powers.size] = powers  # LEVEL_FRAMES is a multiple of every chunk's frames
        self._frames += powers.size
        if self._frames % LEVEL_FRAMES == 0 and _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug(
                "mic level %.1f dBFS (peak %.1f), echo %s, ERLE %s dB",
                self.mic_dbfs,
                self.mic_peak_dbfs,
                self.echo.mode,
                self.echo.erle_db,
            )
        echo = self.echo
        if echo.mode == "off" or (not uplink and echo.idle(ref, rate)):
            return chunk
        if ref.size:
            echo.reference(ref, rate)
        return echo.process(chunk, powers)
