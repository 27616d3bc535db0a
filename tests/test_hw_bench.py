"""hw/bench: the on-device smoke scripts, run by run_all.py against the simulated backend (no Pi needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import SCALE, write_wav

REPO = Path(__file__).resolve().parent.parent
RUN_ALL = REPO / "hw" / "bench" / "run_all.py"
DEMO_WAV = REPO / "edge_agent" / "assets" / "demo_question.wav"


def run_all(config: Path, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, str(RUN_ALL), "--config", str(config), "--quick", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120 * SCALE,
    )


def summary(out: str) -> dict[str, str]:
    """Script name → PASS/FAIL/SKIP, from run_all's result lines."""
    found = {}
    for line in out.splitlines():
        word, _, rest = line.partition("  ")
        if word in ("PASS", "FAIL", "SKIP") and rest.split():
            found[rest.split()[0]] = word
    return found


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    lines: list[str] = []
    for section, values in config.items():
        tables = values if isinstance(values, list) else [values]
        for table in tables:
            lines.append(f"[[{section}]]" if isinstance(values, list) else f"[{section}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path = tmp_path / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())
    return path


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def simulated(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    return {
        "hardware": {"backend": "simulated"},
        "simulated": {"mic_wav": str(DEMO_WAV), "speaker_wav": str(tmp_path / "spk.wav")},
        **sections,
    }


def test_gpio_walk_and_mic_level_pass_on_the_desktop_config(tmp_path: Path) -> None:
    done = run_all(REPO / "config" / "desktop.toml", "--only", "gpio_walk,mic_level", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == {"gpio_walk": "PASS", "mic_level": "PASS"}
    assert "kitchen_light (led, BCM 17): on" in done.stdout
    assert "2 passed, 0 failed, 0 skipped" in done.stdout


def test_every_script_passes_on_a_full_simulated_config(tmp_path: Path) -> None:
    config = simulated(
        tmp_path,
        button={"pin": 27},
        camera={"backend": "simulated"},
        lights={"kind": "rgb_led", "pins": [5, 6, 13], "privacy_pin": 26},
        outputs=[
            {"name": "kitchen_light", "kind": "led", "pin": 17},
            {"name": "fan", "kind": "relay", "pin": 22, "active_high": False},
        ],
    )
    done = run_all(write_config(tmp_path, config), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(summary(done.stdout).values()) == {"PASS"}
    assert len(summary(done.stdout)) == 5
    assert "status lights (rgb_led): blue" in done.stdout and "privacy light: on" in done.stdout
    assert (tmp_path / "edge-agent-bench" / "still.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (tmp_path / "spk.wav").stat().st_size > 44  # the tone went to the simulated speaker


def test_an_apa102_ring_walks_on_the_simulated_backend(tmp_path: Path) -> None:
    config = simulated(tmp_path, camera={"backend": "simulated"}, lights={"kind": "apa102"})
    done = run_all(write_config(tmp_path, config), "--only", "gpio_walk", tmp_path=tmp_path)
    assert summary(done.stdout) == {"gpio_walk": "PASS"}, done.stdout
    assert "status lights (apa102)" in done.stdout and "privacy light" in done.stdout


def test_a_silent_microphone_fails_and_the_run_exits_1(tmp_path: Path) -> None:
    silent = write_wav(tmp_path / "silence.wav", np.zeros(16000, dtype=np.int16), 16000)
    config = simulated(tmp_path)
    config["simulated"]["mic_wav"] = str(silent)
    done = run_all(write_config(tmp_path, config), "--only", "mic_level,button", tmp_path=tmp_path)
    assert done.returncode == 1
    assert summary(done.stdout) == {"mic_level": "FAIL", "button": "SKIP"}
    assert "digital silence" in done.stdout
    assert "0 passed, 1 failed, 1 skipped" in done.stdout


def test_a_script_that_overruns_its_timeout_fails(tmp_path: Path) -> None:
    done = run_all(
        write_config(tmp_path, simulated(tmp_path)), "--only", "mic_level", "--timeout", "0.01", tmp_path=tmp_path
    )
    assert done.returncode == 1
    assert "FAIL  mic_level" in done.stdout and "timed out after 0.01 s" in done.stdout


def test_a_broken_config_is_a_fail_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[listening]\nmode = "sometimes"\n')
    done = subprocess.run(
        [sys.executable, str(REPO / "hw" / "bench" / "button.py"), "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60 * SCALE,
    )
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("FAIL: configuration: ")
    assert "listening.mode" in done.stdout
