"""A simulated room between a virtual speaker and a virtual microphone (for echo-cancellation tests).

The room runs in its own thread on two ALSA PCMs, normally the ``roomin``/``roomout`` PCMs of
:class:`edge_agent.bench.pulse.PulseRig` (16 kHz mono; PulseAudio resamples). Every period
(10 ms) it reads what the speaker played, convolves it with a room impulse response, scales
it by ``echo_gain_db``, adds the near-end "user" speech scheduled with :meth:`Room.say` and a
little noise, and writes the sum to the microphone::

    speaker ──▶ roomin ──▶ [extra delay] ──▶ ⊛ IR × gain ──▶ (+ near end + noise) ──▶ roomout ──▶ microphone

The room's own buffering is fixed once it runs (one read, one write per period, after a fixed
prefill), so the sample delay from speaker to microphone stays constant; an xrun would change
it, so xruns are counted (:attr:`Room.xruns`). Everything is recorded (:meth:`Room.recording`).

The ALSA config naming the PCMs must be active (``$ALSA_CONFIG_PATH`` in ``os.environ``) when
:meth:`Room.start` opens them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import alsaaudio
import numpy as np
import numpy.typing as npt

from edge_agent.errors import AudioDeviceError

Floats = npt.NDArray[np.float32]
Int16s = npt.NDArray[np.int16]


def room_response(
    rate: int,
    *,
    delay_ms: float = 5.0,
    rt60_s: float = 0.3,
    reflections: int = 6,
    seed: int = 0,
    drr_db: float = 3.0,
) -> Floats:
    """A synthetic room impulse response: direct path, early reflections, exponentially decaying tail.

    The direct path (amplitude 1.0) arrives after ``delay_ms``; ``reflections`` early
    reflections 2–25 ms after it (amplitude 0.2–0.6, random sign); then a noise tail decaying
    by 60 dB in ``rt60_s``, scaled so the direct-to-reverberant energy ratio is ``drr_db``
    (audio-processing.md §2: +3 dB for the echo path). Deterministic for a ``seed``. Pure.
    """
    rng = np.random.default_rng(seed)
    direct = round(delay_ms * rate / 1000)
    tail_n = max(1, round(rt60_s * rate))
    ir = np.zeros(direct + round(0.025 * rate) + tail_n + 1, dtype=np.float64)
    ir[direct] = 1.0
    at = direct + rng.integers(round(0.002 * rate), round(0.025 * rate) + 1, reflections)
    np.add.at(ir, at, rng.uniform(0.2, 0.6, reflections) * rng.choice([-1.0, 1.0], reflections))
    start = direct + round(0.005 * rate)
    decay = np.exp(-6.9078 * np.arange(tail_n) / tail_n)  # -60 dB at rt60_s
    tail = rng.standard_normal(tail_n) * decay
    reverberant = float(np.sum(ir[direct + 1 :] ** 2))
    target = 10 ** (-drr_db / 10)  # direct energy is 1.0
    tail *= np.sqrt(max(target - reverberant, target / 10) / float(np.sum(tail**2)))
    ir[start : start + tail_n] += tail
    return ir.astype(np.float32)


class PartitionedConvolver:
    """Streaming linear convolution with a long FIR: uniformly partitioned FFT overlap-add.

    The IR is cut into blocks of ``block`` samples; each input block is transformed once
    (FFT size ``2 × block``) and kept in a frequency-domain delay line, so a 0.5 s IR at
    16 kHz in 10 ms blocks costs one small FFT pair and a (50 × 161) multiply-add per block.
    Exact (float64) up to rounding. Thread: one caller. Stateful: feed consecutive blocks.
    """

    def __init__(self, ir: npt.ArrayLike, block: int) -> None:
        h = np.asarray(ir, dtype=np.float64).ravel()
        parts = max(1, -(-h.size // block))
        padded = np.zeros(parts * block)
        padded[: h.size] = h
        self.block = block
        self._n = 2 * block
        self._h = np.fft.rfft(padded.reshape(parts, block), n=self._n, axis=1)
        self._x = np.zeros_like(self._h)
        self._overlap = np.zeros(block)

    def process(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Convolve the next ``block`` input samples; return the next ``block`` output samples."""
        self._x[1:] = self._x[:-1]
        self._x[0] = np.fft.rfft(np.asarray(x, dtype=np.float64), n=self._n)
        y = np.fft.irfft(np.einsum("pk,pk->k", self._x, self._h), n=self._n)
        out = y[: self.block] + self._overlap
        self._overlap = y[self.block :].copy()
        return out


@dataclass(frozen=True)
class RoomRecording:
    """What the room heard and made. All arrays are sample-aligned: index *i* of each is the same period slot.

    ``t0`` is the ``time.monotonic()`` of the first sample (the end of the first read minus
    one period). ``out = clip(round(echo + near + noise))``.
    """

    rate: int
    t0: float
    heard: Int16s
    """What the room read from the speaker (``roomin``)."""
    echo: Floats
    """The echo it added: ``gain × (delayed heard ⊛ IR)``."""
    near: Floats
    """The near-end speech it added."""
    out: Int16s
    """Everything it wrote to the microphone (``roomout``)."""

    def time_of(self, index: int) -> float:
        """The monotonic time of sample ``index``."""
        return self.t0 + index / self.rate


class Room:
    """The simulated room thread. See the module docstring for the signal path.

    ``ir``: the impulse response at ``rate`` (default :func:`room_response` with its
    defaults). ``extra_delay_ms``: an extra bulk delay before the IR (a speaker with a huge
    buffer). ``noise_dbfs``: RMS of white noise added to the microphone (None: none).
    ``prefill_periods``: silence written ahead once, the room's constant playback lead.

    Thread contract: :meth:`start` and :meth:`stop` from one controlling thread; both
    idempotent; :meth:`stop` joins the room thread and re-raises any error it hit (every
    call, so it is never lost). :meth:`say` and :meth:`recording` may be called from any
    thread at any time.
    """

    def __init__(
        self,
        *,
        ir: npt.ArrayLike | None = None,
        capture_device: str = "roomin",
        playback_device: str = "roomout",
        rate: int = 16000,
        period_ms: int = 10,
        periods: int = 10,
        prefill_periods: int = 5,
        echo_gain_db: float = 0.0,
        extra_delay_ms: float = 0.0,
        noise_dbfs: float | None = -62.0,
        seed: int = 0,
        record_s: float = 600.0,
    ) -> None:
        self.rate = rate
        self.block = rate * period_ms // 1000
        self.devices = (capture_device, playback_device)
        self.periods = periods
        self.prefill_periods = prefill_periods
        self.ir = np.asarray(ir if ir is not None else room_response(rate), dtype=np.float32)
        self.gain = float(10 ** (echo_gain_db / 20))
        self.extra_delay = round(extra_delay_ms * rate / 1000)
        self.noise_rms = 0.0 if noise_dbfs is None else 32768 * 10 ** (noise_dbfs / 20)
        self.xruns = 0
        """Overruns/underruns seen (each may have changed the speaker→microphone delay)."""
        self.max_lag_ms = 0.0
        """Largest lag of the room's processing behind its capture clock (a health figure)."""
        self.error: BaseException | None = None
        self._seed = seed
        self._record_blocks = int(record_s * rate) // self.block
        self._lock = threading.Lock()
        self._pending: list[tuple[float | None, Floats]] = []
        self._records: tuple[list[Int16s], list[Floats], list[Floats], list[Int16s]] = ([], [], [], [])
        self._t0: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._started = threading.Event()

    # ------------------------------------------------------------ control

    def start(self, timeout_s: float = 10.0) -> None:
        """Open both PCMs and start the room thread; return once its first period was read.

        Blocking (one period, or up to ``timeout_s`` on a slow device). Idempotent.
        Raises AudioDeviceError when a PCM cannot be opened or grants another rate/format,
        and whatever the thread hit before its first period.
        """
        if self._thread is not None:
            return
        capture = self._open(alsaaudio.PCM_CAPTURE, self.devices[0])
        try:
            playback = self._open(alsaaudio.PCM_PLAYBACK, self.devices[1])
        except BaseException:
            capture.close()
            raise
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(capture, playback), name="room", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"the room read nothing from {self.devices[0]!r} within {timeout_s:g} s")
        self.check()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop and join the room thread (it closes its PCMs); re-raise its error if it hit one. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                raise TimeoutError(f"the room thread did not stop within {timeout_s:g} s")
        self.check()

    def check(self) -> None:
        """Raise the room thread's error, if it hit one (it then stopped). Any thread; non-blocking."""
        if self.error is not None:
            raise RuntimeError(f"the room thread failed: {self.error!r}") from self.error

    @property
    def running(self) -> bool:
        """Whether the room thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Room:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ the user's voice, the record

    def say(self, samples: npt.ArrayLike, at: float | None = None) -> None:
        """Schedule near-end speech (mono, at the room's rate, int16 scale) into the microphone.

        ``at``: the ``time.monotonic()`` to start; None: now, or after near-end speech already
        queued. A time in the past starts at the next period. Any thread; non-blocking.
        """
        pcm = np.asarray(samples, dtype=np.float32).ravel()
        with self._lock:
            self._pending.append((at, pcm))

    def recording(self) -> RoomRecording:
        """A copy of everything recorded so far (up to ``record_s``). Any thread; O(recorded length)."""
        with self._lock:
            heard = [np.zeros(0, np.int16), *self._records[0]]
            echo = [np.zeros(0, np.float32), *self._records[1]]
            near = [np.zeros(0, np.float32), *self._records[2]]
            out = [np.zeros(0, np.int16), *self._records[3]]
            t0 = self._t0 if self._t0 is not None else float("nan")
        return RoomRecording(
            self.rate, t0, np.concatenate(heard), np.concatenate(echo), np.concatenate(near), np.concatenate(out)
        )

    # ------------------------------------------------------------ the room thread

    def _open(self, kind: int, device: str) -> alsaaudio.PCM:
        what = "capture" if kind == alsaaudio.PCM_CAPTURE else "playback"
        try:
            pcm = alsaaudio.PCM(
                kind,
                alsaaudio.PCM_NORMAL,
                device=device,
                rate=self.rate,
                channels=1,
                format=alsaaudio.PCM_FORMAT_S16_LE,
                periodsize=self.block,
                periods=self.periods,
            )
        except alsaaudio.ALSAAudioError as e:
            raise AudioDeviceError(f"room: cannot open {what} device {device!r}: {e}") from e
        info = pcm.info()
        if (int(info["rate"]), int(info["channels"]), info["format_name"]) != (self.rate, 1, "S16_LE"):
            pcm.close()
            raise AudioDeviceError(f"room: {what} device {device!r} granted {info['rate']} Hz/{info['channels']} ch")
        return pcm

    def _run(self, capture: alsaaudio.PCM, playback: alsaaudio.PCM) -> None:
        """The room thread: read a period, process it, write a period, until stopped or failed."""
        try:
            state = _State(self)
            silence = bytes(2 * self.block)
            for _ in range(self.prefill_periods):
                playback.write(silence)
            pending = bytearray()
            frames = 0
            while not self._stop.is_set():
                n, data = capture.read()
                now = time.monotonic()
                if n < 0:  # -EPIPE: overrun; the stream was re-prepared, samples were lost
                    self.xruns += 1
                    continue
                if self._t0 is None:
                    self._t0 = now - n / self.rate
                    self._started.set()
                pending += data
                frames += n
                lag = (now - self._t0 - frames / self.rate) * 1000
                self.max_lag_ms = max(self.max_lag_ms, lag)
                while len(pending) >= 2 * self.block:
                    block = np.frombuffer(bytes(pending[: 2 * self.block]), dtype="<i2")
                    del pending[: 2 * self.block]
                    out = state.process(block)
                    if playback.write(out.tobytes()) < 0:  # -EPIPE: underrun; that chunk was not written
                        self.xruns += 1
                        playback.write(out.tobytes())
        except BaseException as e:  # recorded; stop()/check() re-raise it
            self.error = e
        finally:
            for pcm in (capture, playback):
                with contextlib.suppress(alsaaudio.ALSAAudioError):
                    pcm.close()
            self._started.set()

    def _take_pending(self) -> list[tuple[float | None, Floats]]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def _record(self, heard: Int16s, echo: Floats, near: Floats, out: Int16s) -> None:
        with self._lock:
            if len(self._records[0]) < self._record_blocks:
                self._records[0].append(heard)
                self._records[1].append(echo)
                self._records[2].append(near)
                self._records[3].append(out)


class _State:
    """The room thread's signal state: delay line, convolver, near-end schedule, noise."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.block = room.block
        self.index = 0  # sample index of the next block
        self.convolver = PartitionedConvolver(room.ir, room.block)
        self.delay: npt.NDArray[np.float64] = np.zeros(room.extra_delay)
        self.segments: list[tuple[int, Floats]] = []
        self.queue_end = 0
        self.rng = np.random.default_rng(room._seed)

    def process(self, heard: Int16s) -> Int16s:
        """One period: the microphone signal for the speaker block ``heard``; records all four signals."""
        room, b = self.room, self.block
        x = heard.astype(np.float64)
        if self.delay.size:
            line = np.concatenate((self.delay, x))
            x, self.delay = line[:b], line[b:]
        echo = (self.convolver.process(x) * room.gain).astype(np.float32)
        near = self._near()
        total = echo + near
        if room.noise_rms:
            total = total + (self.rng.standard_normal(b) * room.noise_rms).astype(np.float32)
        out: Int16s = np.clip(np.rint(total), -32768, 32767).astype(np.int16)
        room._record(heard.astype(np.int16), echo, near, out)
        self.index += b
        return out

    def _near(self) -> Floats:
        """The near-end samples of this block: every scheduled segment that overlaps it."""
        room, b, start = self.room, self.block, self.index
        t0 = room._t0 if room._t0 is not None else time.monotonic()
        for at, pcm in room._take_pending():
            begin = self.queue_end if at is None else round((at - t0) * room.rate)
            begin = max(begin, start)
            self.segments.append((begin, pcm))
            self.queue_end = max(self.queue_end, begin + pcm.size)
        near = np.zeros(b, dtype=np.float32)
        kept = []
        for begin, pcm in self.segments:
            lo, hi = max(begin, start), min(begin + pcm.size, start + b)
            if lo < hi:
                near[lo - start : hi - start] += pcm[lo - begin : hi - begin]
            if begin + pcm.size > start + b:
                kept.append((begin, pcm))
        self.segments = kept
        return near
