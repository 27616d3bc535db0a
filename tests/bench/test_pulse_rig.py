"""The PulseAudio test rig, the simulated room on it, and the two benchmark baselines as child processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import alsaaudio
import numpy as np
import pytest
import soxr

from edge_agent.bench.pulse import PulseNotInstalled, PulseRig
from edge_agent.hardware.room import PartitionedConvolver, Room, room_response
from edge_agent.live.fake_server import FakeLiveServer
from tests.conftest import require_pulse

SCALE = float(os.environ.get("EDGE_AGENT_TEST_TIME_SCALE", "1"))


def open_pcm(kind: int, device: str, rate: int, periods: int = 4) -> alsaaudio.PCM:
    return alsaaudio.PCM(
        kind,
        alsaaudio.PCM_NORMAL,
        device=device,
        rate=rate,
        channels=1,
        format=alsaaudio.PCM_FORMAT_S16_LE,
        periodsize=rate // 100,
        periods=periods,
    )


def noise(seconds: float, rate: int, seed: int, level: int = 6000) -> np.ndarray:
    return np.random.default_rng(seed).integers(-level, level, round(seconds * rate), dtype=np.int16)


def speechband(seconds: float, rate: int, seed: int, level: float = 3000.0) -> np.ndarray:
    """Noise band-limited to 6 kHz (made at 16 kHz), at ``rate``: survives PulseAudio's resampler intact."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(round(seconds * 16000)))
    spectrum[int(spectrum.size * 6 / 8) :] = 0
    x = np.fft.irfft(spectrum, round(seconds * 16000))
    x = soxr.resample(x * level / np.std(x), 16000, rate) if rate != 16000 else x * level / np.std(x)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def prefill(speaker: alsaaudio.PCM, periods: int = 5) -> None:
    """Silence ahead of a lockstep loop, as the daemon keeps: without it the pulse plugin underruns (-EPIPE)
    in the first seconds, and every underrun makes PulseAudio wait for its prebuffer, moving the delay."""
    for _ in range(periods):
        speaker.write(bytes(2 * speaker.info()["period_size"]))


def padded(signal: np.ndarray, rate: int, before_s: float, total_s: float) -> np.ndarray:
    out = np.zeros(round(total_s * rate), dtype=np.int16)
    at = round(before_s * rate)
    out[at : at + signal.size] = signal[: out.size - at]
    return out


def delay(ref: np.ndarray, sig: np.ndarray, start: int, length: int, max_lag: int) -> tuple[int, float]:
    """Lag (samples) of ``ref[start:start+length]`` inside ``sig``, and the normalised correlation there."""
    r = ref[start : start + length].astype(np.float64)
    s = sig[start : start + length + max_lag].astype(np.float64)
    n = 1 << (s.size + r.size).bit_length()
    c = np.fft.irfft(np.fft.rfft(s, n) * np.conj(np.fft.rfft(r, n)), n)[: max_lag + 1]
    lag = int(np.argmax(np.abs(c)))
    norm = np.linalg.norm(r) * np.linalg.norm(s[lag : lag + length])
    return lag, float(abs(c[lag]) / norm) if norm else 0.0


# ------------------------------------------------------------------ the rig


def test_rig_starts_and_stops_without_leftovers() -> None:
    require_pulse()
    rig = PulseRig(settle_s=0.0)
    with rig:
        pids = rig.pids
        directory = rig.directory
        assert len(pids) == 3  # the server and one keeper per sink
        info = subprocess.run(["pactl", "info"], env={**os.environ, **rig.env}, capture_output=True, text=True)
        assert info.returncode == 0 and str(rig.socket_path) in info.stdout
        assert rig.alsa_config_path.startswith("/usr/share/alsa/alsa.conf:")
        for name in ("pamic", "paspk", "roomin", "roomout"):
            assert f"pcm.{name} " in rig.alsa_config_file.read_text()
    assert rig.pids == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not directory.exists()
    rig.close()  # idempotent


def test_rig_kills_its_children_when_the_body_raises() -> None:
    require_pulse()
    rig = PulseRig(settle_s=0.0)
    with pytest.raises(ZeroDivisionError), rig:
        pids = rig.pids
        _ = 1 / 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_missing_pulseaudio_names_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PulseNotInstalled, match="apt-get install pulseaudio pulseaudio-utils libasound2-plugins"):
        PulseRig().start()


def test_audio_flows_speaker_to_room_and_room_to_mic(pulse_env: PulseRig) -> None:
    seconds = 2.5
    to_speaker = padded(speechband(1.5, 48000, seed=1), 48000, 0.3, seconds)
    to_mic = padded(speechband(1.5, 16000, seed=2), 16000, 0.3, seconds)
    roomin = open_pcm(alsaaudio.PCM_CAPTURE, "roomin", 16000)
    pamic = open_pcm(alsaaudio.PCM_CAPTURE, "pamic", 48000)
    paspk = open_pcm(alsaaudio.PCM_PLAYBACK, "paspk", 48000)
    roomout = open_pcm(alsaaudio.PCM_PLAYBACK, "roomout", 16000)
    heard, captured = [], []
    try:
        prefill(paspk)
        prefill(roomout)
        for i in range(int(seconds * 100)):  # lockstep, paced by roomin
            heard.append(roomin.read()[1])
            captured.append(pamic.read()[1])
            paspk.write(to_speaker[i * 480 : (i + 1) * 480].tobytes())
            roomout.write(to_mic[i * 160 : (i + 1) * 160].tobytes())
    finally:
        for pcm in (roomin, pamic, paspk, roomout):
            pcm.close()
    room_heard = np.frombuffer(b"".join(heard), dtype="<i2")
    mic = np.frombuffer(b"".join(captured), dtype="<i2")
    ref16 = soxr.resample(to_speaker.astype(np.float32), 48000, 16000)
    ref48 = soxr.resample(to_mic.astype(np.float32), 16000, 48000)
    lag16, corr16 = delay(ref16, room_heard, 4800, 16000, 8000)
    lag48, corr48 = delay(ref48, mic, 14400, 48000, 24000)
    print(f"paspk→roomin {lag16 / 16:.1f} ms (r={corr16:.3f}); roomout→pamic {lag48 / 48:.1f} ms (r={corr48:.3f})")
    assert corr16 > 0.8 and corr48 > 0.8  # unrelated signals give ~0.01; an underrun's gap costs some
    assert 0 < lag16 < 8000 and 0 < lag48 < 24000


# ------------------------------------------------------------------ the room


def test_partitioned_convolver_is_exact_linear_convolution() -> None:
    ir = room_response(16000, rt60_s=0.1, seed=5)
    x = np.random.default_rng(0).standard_normal(160 * 40)
    conv = PartitionedConvolver(ir, 160)
    y = np.concatenate([conv.process(x[i : i + 160]) for i in range(0, x.size, 160)])
    np.testing.assert_allclose(y, np.convolve(x, ir)[: x.size], atol=1e-9)


def test_room_response_has_a_direct_path_and_decays() -> None:
    ir = room_response(16000, delay_ms=5, rt60_s=0.3, reflections=6, seed=1)
    assert int(np.argmax(np.abs(ir))) == 80 and ir[80] == pytest.approx(1.0, abs=0.2)
    assert np.all(ir[:80] == 0)
    early, late = np.abs(ir[800:1600]).max(), np.abs(ir[-800:]).max()
    assert late < early / 100  # -40 dB and more by the end of the tail
    np.testing.assert_array_equal(ir, room_response(16000, delay_ms=5, rt60_s=0.3, reflections=6, seed=1))


def run_room(ir: np.ndarray, played: np.ndarray, user: np.ndarray, at_s: float) -> tuple[Room, list[bytes], int, float]:
    """Start a room, play ``played`` to ``paspk`` in lockstep with ``pamic`` like the daemon; stop the room."""
    room = Room(ir=ir, echo_gain_db=-6.0, noise_dbfs=None)
    captured, underruns = [], 0
    room.start()
    try:
        at = time.monotonic() + at_s
        room.say(user, at=at)
        room.say(user)  # queued after the first
        mic = open_pcm(alsaaudio.PCM_CAPTURE, "pamic", 48000)
        speaker = open_pcm(alsaaudio.PCM_PLAYBACK, "paspk", 48000)
        try:
            prefill(speaker)
            for i in range(played.size // 480):  # like the daemon: read one period, write one period
                captured.append(mic.read()[1])
                underruns += speaker.write(played[i * 480 : (i + 1) * 480].tobytes()) < 0
        finally:
            mic.close()
            speaker.close()
    finally:
        room.stop()
    return room, captured, underruns, at


def test_room_echo_is_speaker_convolved_with_ir_and_delay_is_stable(pulse_env: PulseRig) -> None:
    ir = room_response(16000, delay_ms=5, rt60_s=0.3, seed=3)
    played = padded(speechband(7.0, 48000, seed=4), 48000, 0.2, 7.5)
    user = noise(0.5, 16000, seed=5, level=2000)
    delays = []
    for _ in range(3):  # an xrun (a CPU-starved machine) legitimately moves the delay: measure again
        room, captured, underruns, at = run_room(ir, played, user, at_s=5.8)  # the user after both windows
        rec = room.recording()
        assert rec.heard.size == rec.echo.size == rec.near.size == rec.out.size > 6 * 16000
        # The echo is exactly what the room heard, convolved with the IR and scaled.
        heard = rec.heard.astype(np.float64)
        expected = 10 ** (-6 / 20) * np.convolve(heard, ir.astype(np.float64))[: rec.heard.size]
        assert np.abs(expected).max() > 1000
        np.testing.assert_allclose(rec.echo, expected, atol=0.05)
        np.testing.assert_array_equal(rec.out, np.clip(np.rint(rec.echo + rec.near), -32768, 32767).astype(np.int16))
        # The near end: two back-to-back copies of the user's speech, bit-exact, the first at ``at``.
        start = int(np.flatnonzero(rec.near)[0])
        assert abs(rec.time_of(start) - at) < 0.001
        np.testing.assert_array_equal(rec.near[start : start + 2 * user.size], np.tile(user, 2).astype(np.float32))
        assert not rec.near[start + 2 * user.size :].any()
        # Speaker → microphone through the whole rig, in two separate windows.
        mic48 = np.frombuffer(b"".join(captured), dtype="<i2")
        first, r1 = delay(played, mic48, 48000, 2 * 48000, 24000)
        second, r2 = delay(played, mic48, 3 * 48000, 2 * 48000, 24000)
        delays.append((first / 48, second / 48, room.xruns, underruns))
        print(f"speaker→mic {first / 48:.2f} / {second / 48:.2f} ms (r={r1:.2f}, {r2:.2f}), xruns {delays[-1][2:]}")
        if room.xruns == 0 and underruns == 0:
            assert r1 > 0.5 and r2 > 0.5
            assert abs(first - second) <= 48, f"delay moved with no xrun: {first / 48:.2f} → {second / 48:.2f} ms"
            break
    else:
        pytest.fail(f"an xrun in every run (ms, ms, room xruns, speaker underruns): {delays}")


def test_room_open_errors_raise_from_start(pulse_env: PulseRig) -> None:
    room = Room(capture_device="nosuchpcm")
    with pytest.raises(OSError, match="nosuchpcm"):
        room.start()
    assert not room.running


def test_room_thread_errors_are_re_raised_by_stop(pulse_env: PulseRig) -> None:
    room = Room()
    room.start()
    try:
        pulse_env.unplug("spk")  # the room's capture (spk.monitor) fails
        deadline = time.monotonic() + 10 * SCALE
        while room.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not room.running
    finally:
        pulse_env.replug("spk")
    with pytest.raises(RuntimeError, match="Input/output error"):
        room.stop()
    with pytest.raises(RuntimeError):
        room.stop()  # still reported: never lost


# ------------------------------------------------------------------ unplug / replug


def exchange(speaker: alsaaudio.PCM, monitor: alsaaudio.PCM, periods: int) -> None:
    """Prefill the 48 kHz speaker, then ``periods`` × (read 10 ms of its 16 kHz monitor, write 10 ms)."""
    prefill(speaker)
    for _ in range(periods):
        assert monitor.read()[0] == 160
        assert speaker.write(bytes(960)) == 480


def test_unplug_makes_the_pcms_fail_and_replug_lets_them_reopen(pulse_env: PulseRig) -> None:
    speaker = open_pcm(alsaaudio.PCM_PLAYBACK, "paspk", 48000)
    monitor = open_pcm(alsaaudio.PCM_CAPTURE, "roomin", 16000)
    mic = open_pcm(alsaaudio.PCM_CAPTURE, "pamic", 48000)
    try:
        exchange(speaker, monitor, 10)
        pulse_env.unplug("spk")
        assert not pulse_env.plugged("spk")
        with pytest.raises(alsaaudio.ALSAAudioError, match=r"Input/output error \[paspk\]"):
            speaker.write(bytes(960))
        with pytest.raises(alsaaudio.ALSAAudioError, match=r"Input/output error \[roomin\]"):
            monitor.read()
        with pytest.raises(alsaaudio.ALSAAudioError, match=r"Input/output error \[paspk\]"):
            open_pcm(alsaaudio.PCM_PLAYBACK, "paspk", 48000)
        assert mic.read()[0] == 480  # the other sink never notices
    finally:
        pulse_env.replug("spk")
        for pcm in (speaker, monitor, mic):
            pcm.close()
    assert pulse_env.plugged("spk")
    speaker = open_pcm(alsaaudio.PCM_PLAYBACK, "paspk", 48000)
    monitor = open_pcm(alsaaudio.PCM_CAPTURE, "roomin", 16000)
    try:
        exchange(speaker, monitor, 20)
    finally:
        speaker.close()
        monitor.close()


# ------------------------------------------------------------------ the baselines


def test_baseline_loop_runs_on_the_rig(pulse_rig: PulseRig) -> None:
    argv = [sys.executable, "-m", "edge_agent.hardware.baseline_loop", "--capture", "pamic", "--playback", "paspk"]
    argv += ["--rate", "48000", "--period-ms", "10", "--seconds", "2"]
    done = subprocess.run(argv, env={**os.environ, **pulse_rig.env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.splitlines()[-1])
    assert 150 <= counts["periods"] <= 210  # paced by the clocked device: ~100 periods a second


def test_the_alsa_baseline_uses_the_daemons_ring_and_loads_nothing_of_the_daemon() -> None:
    from edge_agent.hardware import alsa_audio, baseline_loop

    assert baseline_loop.PERIODS == alsa_audio.RING_PERIODS
    probe = "import sys, edge_agent.hardware.baseline_loop; print(sorted(m for m in sys.modules if 'edge' in m))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "edge_agent.settings" not in loaded and "edge_agent.hardware.alsa_audio" not in loaded


def test_baseline_client_streams_silence_to_the_fake_server(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, bytes]:
        async with FakeLiveServer(api_key="baseline-key") as server:
            server.write_ca(tmp_path / "ca.pem")
            argv = [sys.executable, "-m", "edge_agent.live.baseline_client", "--base-url", server.base_url]
            argv += ["--key", "baseline-key", "--ca-file", str(tmp_path / "ca.pem"), "--seconds", "2"]
            proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode is not None
            return proc.returncode, out.decode() + err.decode(), server.audio_received()

    code, output, audio = asyncio.run(asyncio.wait_for(scenario(), 60 * SCALE))
    assert code == 0, output
    assert json.loads(output.splitlines()[0])["chunks"] == 50
    assert len(audio) == 50 * 1280 and not any(audio)  # 40 ms of 16 kHz silence each
