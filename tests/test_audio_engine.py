"""The audio thread's cycle on a scripted device: what goes up when the uplink opens mid-chunk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from edge_agent.audio_engine import AudioEngine
from edge_agent.echo import Echo
from edge_agent.pcm import Frames, Samples


class ScriptedDevice:
    """48 kHz mic and speaker that never block: read ``n`` returns ``mic(n)``; ``on_read(n)`` runs first."""

    name = "scripted"
    capture_rate = 48000
    playback_rate = 48000
    overruns = 0
    underruns = 0

    def __init__(self, mic: Callable[[int], Samples], on_read: Callable[[int], None]) -> None:
        self.reads = 0
        self.written: list[Samples] = []
        self.queued: int | None = None
        """The fill level reported (None: the device cannot tell, so the engine neither primes nor pads)."""
        self._mic = mic
        self._on_read = on_read

    def open(self) -> None:
        pass

    def read(self) -> bytes:
        self._on_read(self.reads)
        self.reads += 1
        return self._mic(self.reads - 1).tobytes()

    def to_samples(self, raw: bytes) -> Samples:
        return np.frombuffer(raw, dtype=np.int16)

    def to_frames(self, samples: Samples) -> Samples:
        return np.ascontiguousarray(samples)

    def write(self, frames: Frames) -> None:
        self.written.append(np.frombuffer(frames, dtype=np.int16).copy())

    def playback_queued(self) -> int | None:
        return self.queued

    def close(self) -> None:
        pass


def run_cycles(
    reads: int,
    unmute_at: int,
    quiet_from: int | None = None,
    echo: Echo | None = None,
    speaker_rate: int = 48000,
    *,
    queued: int | None = None,
    reply: Samples | None = None,
    device_out: list[ScriptedDevice] | None = None,
) -> list[Samples]:
    """``reads`` 10 ms periods of a loud mic (silent from read ``quiet_from``), the uplink opening before
    read ``unmute_at``; the chunks sent. ``queued``: the speaker's reported fill level; ``reply``: 24 kHz
    audio queued to play from the start; ``device_out`` receives the device."""
    loop = asyncio.new_event_loop()
    sent: list[Samples] = []
    engine: AudioEngine

    def on_read(n: int) -> None:
        engine.uplink_enabled = n >= unmute_at
        if n == reads:
            engine._stop.set()

    loud = (12000 * np.sin(2 * np.pi * 440 * np.arange(480) / 48000)).astype(np.int16)
    silent = np.zeros_like(loud)
    device = ScriptedDevice(lambda n: silent if quiet_from is not None and n >= quiet_from else loud, on_read)
    device.playback_rate = speaker_rate
    device.queued = queued
    if device_out is not None:
        device_out.append(device)
    engine = AudioEngine(
        device,
        loop=loop,
        period_ms=10,
        chunk_ms=40,
        prebuffer_ms=100,
        on_chunk=lambda chunk, read_at: sent.append(np.frombuffer(chunk, dtype=np.int16)),
        on_drained=lambda: None,
        echo=echo,
    )
    if reply is not None:
        engine.play(reply.tobytes())
        engine.finish()
    engine._cycles()  # in this thread: the scripted device never blocks
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    return sent


def test_audio_captured_before_the_uplink_opened_mid_chunk_never_goes_up() -> None:
    # Loud while muted, silent once open, the uplink opening two periods into a chunk: nothing sent may
    # be above soxr's ±1 dither (not a sample from before, not the resampler's memory of them).
    sent = run_cycles(reads=24, unmute_at=6, quiet_from=6)
    assert len(sent) == 5  # the chunk the uplink opened in and the four after it; none from before
    assert {c.size for c in sent} == {640}
    assert np.abs(np.concatenate(sent)).max() <= 1


def test_once_open_the_mic_goes_up_in_chunks_that_line_up_with_the_periods() -> None:
    sent = run_cycles(reads=40, unmute_at=0)
    assert len(sent) == 10 and {c.size for c in sent} == {640}
    assert min(int(np.abs(c).max()) for c in sent[1:]) > 8000


def test_a_speaker_rate_with_no_whole_10_ms_frame_makes_webrtc_give_way_to_half_duplex() -> None:
    echo = Echo("webrtc")
    sent = run_cycles(reads=12, unmute_at=0, echo=echo, speaker_rate=22050)
    assert echo.mode == "half_duplex" and "22050 Hz" in echo.fallback_reason
    assert len(sent) == 3  # and the audio keeps going


def test_at_48k_webrtc_stays() -> None:
    echo = Echo("webrtc", min_erle_db=0)
    run_cycles(reads=12, unmute_at=0, echo=echo)
    assert echo.mode == "webrtc"


class CountingProcessor:
    """An echo canceller that passes audio through and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def reverse(self, far: Samples, rate: int) -> None:
        self.calls += 1

    def process(self, near: Samples) -> Samples:
        self.calls += 1
        return near.copy()


def test_in_standby_with_a_quiet_speaker_the_canceller_is_not_run() -> None:
    idle, busy = CountingProcessor(), CountingProcessor()
    run_cycles(reads=40, unmute_at=1000, echo=Echo("webrtc", processor=lambda: idle))  # never unmuted
    run_cycles(reads=40, unmute_at=0, echo=Echo("webrtc", processor=lambda: busy))
    assert idle.calls == 0
    assert busy.calls == 20  # a reference and a mic call for each of the 10 chunks


class RecordingProcessor(CountingProcessor):
    """An echo canceller that passes audio through and keeps the far-end reference it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.far: list[Samples] = []

    def reverse(self, far: Samples, rate: int) -> None:
        super().reverse(far, rate)
        self.far.append(far.copy())


def test_the_echo_reference_is_exactly_what_was_written_primed_and_padded_silence_included() -> None:
    # A speaker that reports a low fill level: primed at open, then padded after the first second's
    # readings, while a reply plays; the reference must be those samples, in that order.
    recorder = RecordingProcessor()
    devices: list[ScriptedDevice] = []
    reply = (9000 * np.sin(2 * np.pi * 300 * np.arange(24000) / 24000)).astype(np.int16)
    run_cycles(
        reads=120,
        unmute_at=0,
        echo=Echo("webrtc", processor=lambda: recorder),
        queued=100,
        reply=reply,
        device_out=devices,
    )
    written = np.concatenate(devices[0].written)
    far = np.concatenate(recorder.far)
    assert far.size == (120 + 4 + 1) * 480  # every period of the 30 chunks, 4 primed, 1 padded
    assert far.tobytes() == written[: far.size].tobytes()
    assert np.abs(far).max() > 8000  # the reply is in it, not only silence
