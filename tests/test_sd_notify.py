"""sd_notify through systemd-python against a real datagram socket standing in for systemd."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.sd_notify import Heartbeat, Notifier, WatchdogGate


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """An abstract AF_UNIX datagram socket; ``$NOTIFY_SOCKET`` points at it as ``@name``."""
    name = f"edge-agent-test-notify-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on ``sock`` (sends are synchronous, so they are all there)."""
    sock.setblocking(False)
    out: list[bytes] = []
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        return out
    finally:
        sock.settimeout(2)


def test_ready_sends_ready_and_status(notify_socket: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.enabled
    assert notifier.ready("standby")
    assert received(notify_socket) == [b"READY=1\nSTATUS=standby"]


def test_status_is_sent_only_when_it_changes(notify_socket: socket.socket) -> None:
    notifier = Notifier()
    notifier.ready("standby")
    assert notifier.status("standby")  # same as READY's status: nothing sent
    assert notifier.status("listening")
    assert notifier.status("listening")
    assert notifier.status("responding")
    assert notifier.status("listening")
    assert received(notify_socket) == [
        b"READY=1\nSTATUS=standby",
        b"STATUS=listening",
        b"STATUS=responding",
        b"STATUS=listening",
    ]


def test_status_cannot_smuggle_other_assignments(notify_socket: socket.socket) -> None:
    Notifier().status("bad\nREADY=1\0x")
    assert received(notify_socket) == [b"STATUS=bad READY=1 x"]


def test_watchdog_and_stopping(notify_socket: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.watchdog()
    assert notifier.watchdog()
    assert notifier.stopping()
    assert notifier.stopping("stopping: SIGTERM")
    assert received(notify_socket) == [
        b"WATCHDOG=1",
        b"WATCHDOG=1",
        b"STOPPING=1\nSTATUS=stopping",
        b"STOPPING=1\nSTATUS=stopping: SIGTERM",
    ]


def test_filesystem_socket_path_works_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert Notifier().ready("standby")
        assert received(sock) == [b"READY=1\nSTATUS=standby"]


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    with caplog.at_level(logging.DEBUG, logger="edge_agent.sd_notify"):
        assert notifier.ready("standby") is False
        assert notifier.status("listening") is False
        assert notifier.watchdog() is False
        assert notifier.stopping() is False
    assert caplog.records == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("dead", id="nobody listening"),  # ConnectionRefusedError
        pytest.param("missing/notify", id="missing path"),  # FileNotFoundError
        pytest.param("relative", id="relative path"),  # OSError EINVAL
    ],
)
def test_a_broken_socket_warns_once_and_never_raises(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if value == "dead":
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dead.bind(str(tmp_path / "dead"))
        dead.close()  # the file stays; nobody listens
        value = str(tmp_path / "dead")
    elif value == "missing/notify":
        value = str(tmp_path / value)
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    notifier = Notifier()
    with caplog.at_level(logging.DEBUG, logger="edge_agent.sd_notify"):
        assert notifier.ready("standby") is False
        assert notifier.status("listening") is False
        assert notifier.watchdog() is False
        assert notifier.stopping() is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sd_notify" in warnings[0].getMessage()
    assert value in warnings[0].getMessage()


def test_status_is_resent_after_a_failed_delivery() -> None:
    sent: list[str] = []
    results = iter([False, True, True])

    def notify(message: str) -> bool:
        sent.append(message)
        return next(results)

    notifier = Notifier(notify)
    assert not notifier.status("listening")
    assert notifier.status("listening")
    assert notifier.status("listening")  # delivered now: deduplicated
    assert sent == ["STATUS=listening", "STATUS=listening"]


def test_an_unexpected_exception_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    def notify(message: str) -> bool:
        raise ValueError("embedded null character")

    notifier = Notifier(notify)
    assert notifier.watchdog() is False
    assert "ValueError" in caplog.text


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "<self>"}, 2.0),
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "30s"}, None),
        ({"WATCHDOG_USEC": ""}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, str(os.getpid()) if value == "<self>" else value)
    assert Notifier().watchdog_interval_s == expected


def test_gate_passes_when_every_check_passes() -> None:
    gate = WatchdogGate()
    assert gate.check() == []
    gate.add("audio", lambda: None)
    gate.add("loop", lambda: None)
    assert gate.check() == []
    assert gate.names == ["audio", "loop"]


def test_gate_reports_each_failing_check_by_name() -> None:
    gate = WatchdogGate()
    gate.add("audio", lambda: "audio thread stalled for 3.2 s")
    gate.add("loop", lambda: None)
    gate.add("session", lambda: "no message for 90 s")
    assert gate.check() == ["audio: audio thread stalled for 3.2 s", "session: no message for 90 s"]
    gate.remove("audio")
    gate.remove("audio")  # idempotent
    assert gate.check() == ["session: no message for 90 s"]
    gate.add("session", lambda: None)  # replaces
    assert gate.check() == []


def test_gate_counts_a_raising_check_as_failing() -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    gate = WatchdogGate()
    gate.add("broken", broken)
    assert gate.check() == ["broken: check raised RuntimeError: boom"]


def test_heartbeat_reports_how_long_the_thread_has_been_silent() -> None:
    now = [100.0]
    beat = Heartbeat("audio thread", 2.0, clock=lambda: now[0])
    gate = WatchdogGate()
    gate.add("audio", beat)
    assert gate.check() == []
    now[0] = 101.9
    assert gate.check() == []
    now[0] = 103.2
    assert gate.check() == ["audio: audio thread stalled for 3.2 s"]
    beat.beat()
    assert gate.check() == []
