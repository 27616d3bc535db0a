"""``edge-agent demo``: the real daemon, the in-package fake Live server, simulated hardware.

No key, no network, no hardware. The fake server (TLS on loopback) plays a scripted
conversation; the daemon hears the question from a WAV, a simulated button tap wakes
it, the reply goes to a WAV, and a tool call switches a (mock) LED, logged as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
import wave
from importlib import resources
from pathlib import Path

from edge_agent.credentials import api_key_credential
from edge_agent.daemon import Daemon
from edge_agent.live import demo_script as script
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.settings import settings_from_mapping

DEMO_TIMEOUT_S = 60.0
LEAD_SILENCE_S = 1.5
"""Silence before the question, so it starts after the button tap (at 0.8 s) woke the daemon."""
PIN = 17


def demo_settings(out: Path, base_url: str, question_wav: Path) -> dict[str, object]:
    """The demo's configuration, as it would appear in a TOML file."""
    return {
        "live": {"base_url": base_url},
        "hardware": {"backend": "simulated"},
        "daemon": {"state_dir": str(out / "state")},
        "listening": {"mode": "on_wake", "idle_timeout_s": 8.0},
        "button": {"pin": 27},
        "simulated": {
            "mic_wav": str(question_wav),
            "mic_start_s": LEAD_SILENCE_S,
            "speaker_wav": str(out / "reply.wav"),
            "gpio_log": str(out / "gpio.jsonl"),
            "button_presses_s": [0.8],
        },
        "outputs": [
            {"name": script.LIGHT, "kind": "led", "pin": PIN, "description": "The kitchen ceiling light"},
        ],
    }


async def _conversation(out: Path, question: Path) -> list[str]:
    """Run the daemon against the fake server; return a list of problems (empty = success)."""
    key = secrets.token_urlsafe(24)
    async with FakeLiveServer(script.demo_script(), api_key=key) as server:
        settings = settings_from_mapping(demo_settings(out, server.base_url, question), source="<demo>")
        daemon = Daemon(
            settings,
            api_key_credential(key),
            ssl_context=server.client_ssl_context(),
            environ={},
            control_socket=out / "control.sock",
        )
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="daemon")
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        while not (server.script_done.is_set() and daemon.turns_played >= 1):
            if task.done() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        problems = []
        if not server.script_done.is_set():
            problems.append("the scripted conversation did not finish")
        if daemon.turns_played < 1:
            problems.append("the reply was not played to the end")
        responses = server.tool_responses()
        if not responses or "error" in responses[0].get("response", {}):
            problems.append(f"the tool call did not succeed: {responses}")
        return problems


def _print_summary(out: Path) -> None:
    print("\nGPIO changes (simulated.gpio_log):")
    for line in (out / "gpio.jsonl").read_text().splitlines():
        change = json.loads(line)
        print(f"  {change['output']} (BCM {change['pin']}) -> {'on' if change['state'] else 'off'}")
    with wave.open(str(out / "reply.wav")) as w:
        seconds = w.getnframes() / w.getframerate()
    print(f"\nWhat the speaker played ({seconds:.1f} s, 24 kHz 16-bit WAV): {out / 'reply.wav'}")


def run_demo(out_dir: str | None = None) -> int:
    """Run the demo; returns 0 when the whole conversation happened as scripted."""
    out = Path(out_dir) if out_dir else Path(tempfile.gettempdir()) / "edge-agent-demo"
    out.mkdir(parents=True, exist_ok=True)
    print(f'edge-agent demo: you press the button and say "{script.QUESTION}"\n', flush=True)
    with resources.as_file(resources.files("edge_agent") / "assets" / "demo_question.wav") as question:
        problems = asyncio.run(_conversation(out, question))
    _print_summary(out)
    if problems:
        print("\ndemo FAILED: " + "; ".join(problems))
        return 1
    print("\ndemo finished: the daemon heard the question, switched the LED on by a tool call and answered.")
    return 0
