#!/usr/bin/env python3
"""Run every bench script against one config, each with a timeout, and print PASS/FAIL/SKIP per script.

Exit status 1 if any script failed (a SKIP is not a failure). Run it on the Pi with the service stopped
(the scripts open the same devices), as a user in the audio, gpio, spi and video groups (the default
user on Raspberry Pi OS is), with the service's Python, which has edge-agent installed:

    sudo systemctl stop edge-agent
    /opt/edge-agent/venv/bin/python hw/bench/run_all.py --config /etc/edge-agent/edge-agent.toml

``--quick`` shortens the captures, tones and pauses (for CI on the simulated backend); ``--only`` picks
scripts by name. Each script's own lines are shown as they come, indented.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["mic_level", "speaker_tone", "camera_still", "gpio_walk", "button"]
QUICK = {
    "mic_level": ["--seconds", "0.5"],
    "speaker_tone": ["--seconds", "0.2"],
    "gpio_walk": ["--pause", "0.05"],
}
WORDS = {0: "PASS", 77: "SKIP"}


def run(name: str, config: str | None, extra: list[str], timeout: float) -> tuple[str, str, float]:
    """Run one script; return (PASS | FAIL | SKIP, its result text, seconds). Its output is echoed live."""
    command = [sys.executable, str(HERE / f"{name}.py"), *(["--config", config] if config else []), *extra]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            print(f"    | {lines[-1]}", flush=True)

    reader = threading.Thread(target=pump, name=f"bench-{name}", daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(2)
        return "FAIL", f"timed out after {timeout:g} s", time.monotonic() - started
    reader.join(2)
    took = time.monotonic() - started
    result = next((line for line in reversed(lines) if line.startswith(("PASS: ", "FAIL: ", "SKIP: "))), "")
    text = result[6:] if result else (lines[-1] if lines else f"exit status {code}, no output")
    return WORDS.get(code, "FAIL"), text, took


def main() -> int:
    """Run the chosen scripts in order; the exit status is 1 if any failed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="edge-agent config file (default: $EDGE_AGENT_CONFIG or the installed one)")
    p.add_argument("--only", help=f"comma-separated scripts (default: all of {', '.join(SCRIPTS)})")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds each script may take (default 30)")
    p.add_argument("--quick", action="store_true", help="short captures, tones and pauses")
    args = p.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else SCRIPTS
    if unknown := [n for n in names if n not in SCRIPTS]:
        p.error(f"unknown script(s) {', '.join(unknown)}; known: {', '.join(SCRIPTS)}")
    config = args.config or os.environ.get("EDGE_AGENT_CONFIG")
    results = []
    for name in names:
        print(f"--- {name}", flush=True)
        extra = QUICK.get(name, []) if args.quick else []
        status, text, took = run(name, config, extra, args.timeout)
        results.append(status)
        print(f"{status}  {name:<13} {took:5.1f} s  {text}", flush=True)
    counts = {word: results.count(word) for word in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped", flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
