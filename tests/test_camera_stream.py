"""Camera frames reach the model only while the microphone streams, at ≤ max_fps, scaled."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from tests.conftest import base_config, noise, run, running_daemon, wait_until


def test_frames_only_while_listening_at_most_max_fps_and_scaled(tmp_path: Path) -> None:
    config = base_config(
        tmp_path,
        "",
        listening={"mode": "on_wake", "idle_timeout_s": 3.2},
        button={"pin": 27},
        camera={"backend": "simulated", "max_fps": 1.0, "long_edge_px": 512},
        simulated={"button_presses_s": [1.0]},
    )

    async def scenario() -> list[fs.ClientMessage]:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 10, "the wake")
            await wait_until(lambda: r.daemon.phase is Phase.STANDBY, 10, "the idle timeout")
            mic = r.daemon.hardware.audio  # type: ignore[union-attr]
            settled = mic.mic_frames + 8000  # let anything already on the wire arrive (0.5 s)
            await wait_until(lambda: mic.mic_frames > settled, 10, "0.5 s")
            count = len(r.server.messages)
            # Stay in standby a while: nothing may leave the device now.
            await wait_until(lambda: mic.mic_frames > settled + 16000 * 2, 10, "2 s more")
            assert len(r.server.messages) == count
            return list(r.server.messages)

    messages = run(scenario())
    audio_t = [m.t for m in messages if m.kind == "realtimeInput" and m.sub == "audio"]
    video = [m for m in messages if m.kind == "realtimeInput" and m.sub == "video"]
    assert audio_t, "the microphone never streamed"
    assert 2 <= len(video) <= 4, f"{len(video)} frames in ~3.2 s of listening"
    for m in video:
        assert audio_t[0] - 0.2 <= m.t <= audio_t[-1] + 0.2, "a frame was sent while not listening"
        blob = fs.field(m.payload, "video")
        assert fs.field(blob, "mimeType") == "image/jpeg"
        height, width, _, _ = simplejpeg.decode_jpeg_header(fs.b64decode_any(fs.field(blob, "data")))
        assert max(width, height) <= 512
    gaps = np.diff([m.t for m in video])
    assert (gaps >= 0.95).all(), f"frames closer than 1 s apart: {gaps}"


def test_a_camera_that_cannot_open_does_not_stop_the_conversation(
    tmp_path: Path, mic_wav: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent")
    reply = noise(0.5, 24000, seed=3)
    script = fs.Script(steps=(fs.Step(on=fs.OnSpeechEnd(), do=(fs.Audio(reply.tobytes()), fs.TurnComplete())),))
    config = base_config(tmp_path, "", camera={"backend": "picamera2"}, simulated={"mic_wav": str(mic_wav)})

    async def scenario() -> None:
        async with running_daemon(script, config) as r:
            await wait_until(lambda: r.daemon.turns_played >= 1, 20, "the reply")

    run(scenario())
    assert any("camera unavailable" in rec.getMessage() for rec in caplog.records)
