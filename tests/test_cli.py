"""The ``edge-agent`` command as a user and systemd run it: real processes, exit codes, output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from tests.conftest import SCALE

SECRET = "AIzaSy-not-a-real-key-but-secret-42"


def edge_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "EDGE_AGENT_CONFIG")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout * SCALE,
    )


def test_version_and_help() -> None:
    assert edge_agent("--version").stdout.startswith("edge-agent ")
    out = edge_agent("--help")
    assert out.returncode == 0
    for command in ("run", "check-config", "demo", "fake-server"):
        assert command in out.stdout


def test_check_config_prints_the_effective_config_with_the_key_redacted(tmp_path: Path) -> None:
    out = edge_agent("check-config", "--config", "config/edge-agent.toml", env={"GEMINI_API_KEY": SECRET})
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert "$GEMINI_API_KEY" in out.stdout and "redacted" in out.stdout
    assert 'backend = "pi"' in out.stdout
    # What it prints is itself a valid config.
    (tmp_path / "effective.toml").write_text(out.stdout)
    assert edge_agent("check-config", "--config", str(tmp_path / "effective.toml")).returncode == 0


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[live]\nvoice = "Kore"\n')
    out = edge_agent("check-config", env={"EDGE_AGENT_CONFIG": str(tmp_path / "c.toml")})
    assert out.returncode == 0 and 'voice = "Kore"' in out.stdout


MISTAKES = {
    "bad TOML": ('[live]\nmodel = "x\n', "live.model", "valid TOML"),
    "unknown key": ('[live]\nmodle = "x"\n', "live.modle", "unknown key"),
    "unknown section": ("[lights]\nx = 1\n", "lights", "unknown key"),
    "wrong type": ('[audio]\nchunk_ms = "40"\n', "audio.chunk_ms", "'40'"),
    "bad choice": ('[listening]\nmode = "sometimes"\n', "listening.mode", "'sometimes'"),
    "missing key file": ('[live]\napi_key_file = "nope.key"\n', "live.api_key_file", "nope.key"),
    "unreadable key file": ('[live]\napi_key_file = "keydir"\n', "live.api_key_file", "keydir"),
    "bad output": ('[[outputs]]\nname = "lamp"\nkind = "led"\npin = 99\n', "outputs[0].pin", "99"),
}


@pytest.mark.parametrize("command", ["check-config", "run"])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_config_mistake_exits_78_naming_the_file_and_key(tmp_path: Path, command: str, mistake: str) -> None:
    text, key, found = MISTAKES[mistake]
    (tmp_path / "keydir").mkdir()
    config = tmp_path / "edge-agent.toml"
    config.write_text(text)
    out = edge_agent(command, "--config", str(config), env={"GEMINI_API_KEY": SECRET})
    assert out.returncode == 78, out.stderr
    assert str(config) in out.stderr and key in out.stderr and found in out.stderr
    assert SECRET not in out.stdout + out.stderr


def test_a_missing_config_file_exits_78(tmp_path: Path) -> None:
    out = edge_agent("run", "--config", str(tmp_path / "absent.toml"))
    assert out.returncode == 78 and "absent.toml" in out.stderr


def test_run_without_any_api_key_exits_78_saying_where_to_put_one(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[hardware]\nbackend = "simulated"\n')
    out = edge_agent("run", "--config", str(tmp_path / "c.toml"))
    assert out.returncode == 78
    assert "GEMINI_API_KEY" in out.stderr and "live.api_key_file" in out.stderr


def test_the_demo_command(tmp_path: Path) -> None:
    out = edge_agent("demo", "--out", str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "User: Please turn on the kitchen light." in out.stderr
    assert "Gemini: Done. The kitchen light is on." in out.stderr
    assert "kitchen_light (BCM 17) -> on" in out.stdout
    assert str(tmp_path / "reply.wav") in out.stdout
    with wave.open(str(tmp_path / "reply.wav")) as w:
        assert w.getframerate() == 24000 and w.getsampwidth() == 2 and w.getnframes() > 24000 * 3


def test_run_against_the_fake_server_process_then_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    """Two real processes: `edge-agent fake-server` and `edge-agent run`, as an operator would."""
    ca = tmp_path / "ca.pem"
    env = {k: v for k, v in os.environ.items() if k != "GEMINI_API_KEY"}
    server = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "fake-server", "--script", "echo", "--api-key", SECRET,
         "--ca-out", str(ca), "--record", str(tmp_path / "record.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        base_url = first.split(" on ")[1].split()[0]
        config = tmp_path / "edge-agent.toml"
        config.write_text(
            f'[live]\nbase_url = "{base_url}"\nca_file = "{ca}"\n'
            f'[hardware]\nbackend = "simulated"\n[listening]\nmode = "always"\n[daemon]\nstate_dir = "{tmp_path}"\n'
            f'[simulated]\nspeaker_wav = "{tmp_path / "speaker.wav"}"\ngpio_log = "{tmp_path / "gpio.jsonl"}"\n'
            '[[outputs]]\nname = "fan"\nkind = "relay"\npin = 22\nactive_high = false\ninitial = true\n'
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
            stderr=subprocess.PIPE, text=True,
            env={**env, "GEMINI_API_KEY": SECRET, "EDGE_AGENT_CONTROL_SOCKET": str(tmp_path / "ctl.sock")},
        )  # fmt: skip
        deadline = time.monotonic() + 30 * SCALE
        log = ""
        assert daemon.stderr is not None
        while "connected to the Live API" not in log and time.monotonic() < deadline:
            log += daemon.stderr.readline()
        assert "connected to the Live API" in log, log
        daemon.send_signal(signal.SIGTERM)
        rest = daemon.communicate(timeout=20 * SCALE)[1]
        assert daemon.returncode == 0, log + rest
        assert SECRET not in log + rest
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    with wave.open(str(tmp_path / "speaker.wav")) as w:  # finalised: the header is valid
        assert w.getframerate() == 24000 and w.getnframes() > 0
    states = [json.loads(line)["state"] for line in (tmp_path / "gpio.jsonl").read_text().splitlines()]
    assert states == [True, False]  # started on (initial = true), safe state (off) on exit
    record = [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]
    assert any("setup" in json.dumps(r) for r in record)


def test_bench_session_prints_its_figures_as_json() -> None:
    out = edge_agent("bench", "session", "--json", "--rotations", "2", "--drops", "1", timeout=120)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    assert figures["benchmark"] == "session" and figures["goaways"] == 2 and figures["drops"] == 1
    assert figures["handovers_before_deadline"] == 2
    assert figures["tool_calls_lost"] == 0
    assert figures["audio_lost_in_handovers_ms"] == 0 and figures["audio_chunks_repeated"] == 0


def test_doctor_passes_on_the_desktop_config_and_fails_with_a_hint_without_a_key() -> None:
    good = edge_agent("doctor", "--config", "config/desktop.toml", "--offline", env={"GEMINI_API_KEY": SECRET})
    assert good.returncode == 0, good.stdout
    assert "\nFAIL " not in good.stdout and SECRET not in good.stdout + good.stderr
    bad = edge_agent("doctor", "--config", "config/desktop.toml", "--offline")
    assert bad.returncode == 1
    assert "FAIL    API key" in bad.stdout and "GEMINI_API_KEY" in bad.stdout
