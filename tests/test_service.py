"""The daemon under a real NOTIFY_SOCKET and with its control socket: what systemd and an operator see."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_agent.control import request
from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from tests.conftest import base_config, run, running_daemon, wait_until


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    name = f"edge-agent-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1s: ping every 0.5 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


class Datagrams:
    """Everything the daemon sent to NOTIFY_SOCKET, with arrival times."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seen: list[tuple[float, str]] = []

    def poll(self) -> list[str]:
        while True:
            try:
                self.seen.append((time.monotonic(), self.sock.recv(4096).decode()))
            except BlockingIOError:
                return [text for _, text in self.seen]

    def pings_since(self, t: float) -> int:
        self.poll()
        return sum(1 for at, text in self.seen if at >= t and text == "WATCHDOG=1")


def test_ready_status_watchdog_and_stopping_and_a_wedged_audio_thread_stops_the_pings(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    config = base_config(tmp_path, "", listening={"mode": "on_wake"}, button={"pin": 27})
    sent = Datagrams(notify_socket)
    stall = threading.Event()

    async def scenario() -> None:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: any(m.startswith("READY=1") for m in sent.poll()), 10, "READY=1")
            await wait_until(lambda: "STATUS=standby" in sent.poll(), 10, "STATUS=standby")
            r.daemon.wake()
            await wait_until(lambda: "STATUS=listening" in sent.poll(), 10, "STATUS=listening")
            start = time.monotonic()
            await wait_until(lambda: sent.pings_since(start) >= 5, 10, "five watchdog pings")
            pings = [at for at, text in sent.seen if at >= start and text == "WATCHDOG=1"]
            gaps = np.diff(pings)
            # WatchdogSec=1 s: a ping every half of it, and never a gap systemd would kill for.
            assert float(np.median(gaps)) <= 0.75 and float(gaps.max()) < 1.0, gaps
            # Wedge the audio thread: its next read never returns.
            audio = r.daemon.hardware.audio  # type: ignore[union-attr]
            real_read = audio.read
            audio.read = lambda: (stall.wait(), real_read())[1]  # type: ignore[method-assign]
            await asyncio.sleep(2.5)  # AUDIO_STALL_S (2 s) plus a ping interval
            sent.poll()  # what was sent so far is stamped now, before the mark
            wedged = time.monotonic()
            await asyncio.sleep(1.5)
            assert sent.pings_since(wedged) == 0, "WATCHDOG=1 kept coming while the audio thread was stuck"
            stall.set()

    run(scenario())
    messages = sent.poll()
    assert messages[0].startswith("READY=1\nSTATUS=")
    assert messages[-1].startswith("STOPPING=1")


def test_ctl_commands_reach_the_running_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    control = tmp_path / "run" / "control.sock"
    monkeypatch.setenv("EDGE_AGENT_CONTROL_SOCKET", str(control))
    config = base_config(tmp_path, "", listening={"mode": "on_wake"}, button={"pin": 27})

    async def ask(command: str, text: str | None = None) -> dict[str, object]:
        return await asyncio.to_thread(request, control, command, text)

    async def scenario() -> list[fs.ClientMessage]:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(control.exists, 10, "the control socket")
            await wait_until(lambda: r.daemon.phase is Phase.STANDBY, 10, "standby")
            assert oct(control.stat().st_mode & 0o777) == "0o660"
            status = await ask("status")
            assert status["phase"] == "standby" and status["connected"] is True and status["muted"] is False
            assert (await ask("outputs"))["outputs"] == {"kitchen_light": False, "fan": False}
            await ask("wake")
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 5, "listening")
            await ask("mute")
            await wait_until(lambda: r.daemon.phase is Phase.MUTED, 5, "muted")
            assert (await ask("say", "hello"))["ok"] is False  # muted: nothing leaves
            await ask("unmute")
            await wait_until(lambda: r.daemon.phase is not Phase.MUTED, 5, "unmuted")
            assert (await ask("say", "what time is it?"))["ok"] is True
            await wait_until(lambda: any(m.sub == "text" for m in r.server.messages), 5, "the text")
            return list(r.server.messages)

    messages = run(scenario())
    texts = [fs.field(m.payload, "text") for m in messages if m.kind == "realtimeInput" and m.sub == "text"]
    assert texts == ["what time is it?"]
    assert not control.exists()  # removed on exit


def test_ready_is_sent_even_when_the_audio_device_is_missing(tmp_path: Path, notify_socket: socket.socket) -> None:
    """A missing device is retried and reported, never a start-up timeout and restart loop."""
    config = base_config(tmp_path, "", hardware={"backend": "pi"}, audio={"capture_device": "nosuchmic"})
    config["outputs"] = []
    config["button"] = {}
    sent = Datagrams(notify_socket)

    async def scenario() -> None:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: any(m.startswith("READY=1") for m in sent.poll()), 15, "READY=1")
            assert not r.daemon.engine.device_ok  # type: ignore[union-attr]

    run(scenario())
    ready = next(m for m in sent.poll() if m.startswith("READY=1"))
    assert "audio device unavailable: nosuchmic" in ready
    assert np.all([not m.startswith("READY=1") for m in sent.poll()[1:]])
