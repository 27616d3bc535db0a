"""Smoke tests of the benchmarks with tiny parameters: the figures exist and make sense.

Benchmarks measure and tests assert behaviour, so nothing here asserts on speed: only that each
figure is there, has the right sign and order (p50 <= p99), and that the scripted work was done.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from edge_agent.bench import audio, daemon, gpio, render
from edge_agent.bench.all import BENCHMARKS, command, cpu_model, run_all


def ordered(figures: dict[str, Any], prefix: str) -> None:
    p50, p99 = figures[f"{prefix}_p50_ms"], figures[f"{prefix}_p99_ms"]
    assert 0 <= p50 <= p99 < 10_000, (prefix, p50, p99)


def test_gpio_bench_answers_every_tool_call_and_times_the_pin_the_button_and_the_camera() -> None:
    figures = gpio.run(calls=6, taps=2, frames=4)
    assert figures["tool_calls"] == 6 and figures["tool_calls_answered"] == 6
    assert figures["button_taps"] == 2
    for prefix in ("tool_call_to_pin", "button_to_listening", "button_to_first_audio", "camera_capture_encode"):
        ordered(figures, prefix)
    assert figures["camera_size"] == "768x576" and figures["camera_jpeg_kb"] > 1
    assert figures["jpeg_encode_gradient_p50_ms"] > 0 and figures["jpeg_encode_noise_p50_ms"] > 0
    assert "tool_call_to_pin_p50_ms" in render("gpio", figures, as_json=False)


def test_audio_bench_runs_the_daemon_with_and_without_aec_beside_both_baselines() -> None:
    figures = audio.run(seconds=15.0)  # two exchanges: one cut short, one played out
    assert figures["aec_on_exit_code"] == 0 and figures["aec_off_exit_code"] == 0
    for label in ("aec_on", "aec_off"):
        assert figures[f"{label}_cpu_ms_per_s"] > 0 and figures[f"{label}_rss_mb"] > 10
        assert figures[f"{label}_underruns"] >= 0
    # Measured, not judged (this is not a timed test): the figures exist and mean what they say.
    # The whole-run ERLE drops when the virtual sound server stalls (AEC3 re-converges); the median second does not.
    assert figures["aec_on_erle_median_1s_db"] is not None and figures["aec_on_erle_median_1s_db"] > 20
    assert figures["aec_on_erle_db"] is not None and figures["aec_on_erle_db"] > 6
    assert figures["aec_off_erle_db"] is not None and abs(figures["aec_off_erle_db"]) < 1
    assert figures["mic_to_wire_p50_ms"] is not None and figures["mic_to_wire_p50_ms"] >= 0
    assert figures["flushes"] >= 1 and figures["flush_max_ms"] is not None
    assert figures["baseline_a_client_cpu_ms_per_s"] > 0 and figures["baseline_b_alsa_loop_cpu_ms_per_s"] > 0
    both = figures["baseline_a_client_cpu_ms_per_s"] + figures["baseline_b_alsa_loop_cpu_ms_per_s"]
    assert figures["baseline_a_plus_b_cpu_ms_per_s"] == pytest.approx(both, abs=0.11)
    room = figures["baseline_a_client_in_room_cpu_ms_per_s"] + figures["baseline_b_alsa_loop_in_room_cpu_ms_per_s"]
    assert figures["baseline_b_alsa_loop_in_room_cpu_ms_per_s"] > 0
    assert figures["baseline_a_plus_b_in_room_cpu_ms_per_s"] == pytest.approx(room, abs=0.11)
    assert figures["aec_on_over_a_plus_b_in_room"] > 0
    assert "aec_on_over_a_plus_b" in render("audio", figures, as_json=False)


def test_daemon_bench_sees_ready_each_phase_and_a_clean_exit() -> None:
    figures = daemon.run(runs=1, window_s=0.5, settle_s=0.2)
    assert 0 < figures["startup_to_ready_median_ms"] <= figures["startup_to_ready_max_ms"] < 30_000
    assert figures["startup_to_connected_median_ms"] > 0
    for phase in ("standby", "listening", "speaking"):
        assert figures[f"{phase}_cpu_ms_per_s"] >= 0
        assert 10 < figures[f"{phase}_rss_mb"] <= figures["rss_max_mb"]
    assert 0 < figures["shutdown_median_ms"] <= figures["shutdown_max_ms"] < 30_000
    assert figures["exit_code"] == 0
    assert json.loads(render("daemon", figures, as_json=True))["benchmark"] == "daemon"


def test_run_all_runs_in_order_and_writes_the_machine_and_every_benchmark(tmp_path: Path) -> None:
    assert list(BENCHMARKS) == ["session", "gpio", "audio", "daemon"]
    seen: list[str] = []
    quick = {"first": lambda: {"a_ms": 1.0}, "second": lambda: {"b_ms": math.nan}}
    out = tmp_path / "bench" / "all.json"
    results = run_all(out, benchmarks=quick, on_result=lambda name, _figures: seen.append(name))
    assert seen == ["first", "second"] and results["first"] == {"a_ms": 1.0}
    document = json.loads(out.read_text())
    assert document["benchmarks"] == {"first": {"a_ms": 1.0}, "second": {"b_ms": None}}
    machine = document["machine"]
    assert machine["cores"] >= 1 and machine["python"].count(".") == 2 and machine["kernel"] and machine["cpu"]


def test_cpu_model_reads_x86_and_raspberry_pi_cpuinfo() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    pi = "processor\t: 0\nBogoMIPS\t: 108.00\n\nRevision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    assert cpu_model(pi) == "Raspberry Pi 5 Model B Rev 1.0"


def test_command_echoes_a_table_or_json_and_writes_the_file(tmp_path: Path) -> None:
    echoed: list[str] = []
    out = tmp_path / "gpio.json"
    command("gpio", as_json=True, out=out, echo=echoed.append, calls=2, taps=1, frames=1)
    assert json.loads(echoed[0])["benchmark"] == "gpio"
    assert json.loads(out.read_text())["benchmarks"]["gpio"]["tool_calls_answered"] == 2
