"""The control socket: a real server on a temporary Unix socket, the real blocking client in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge_agent.control import (
    DEFAULT_SOCKET,
    MAX_REQUEST_BYTES,
    ControlError,
    ControlProtocolError,
    ControlServer,
    ControlTimeout,
    DaemonNotRunning,
    format_status,
    request,
    socket_path,
)
from tests.conftest import SCALE, run


class RecordingHandler:
    """A fake daemon: records every call and answers with canned results."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail: str | None = None

    async def _answer(self, *call: str) -> dict[str, Any]:
        self.calls.append(call)
        if self.fail == call[0]:
            raise RuntimeError("card gone")
        return {"command": call[0]}

    async def status(self) -> dict[str, Any]:
        await self._answer("status")
        return {"phase": "standby", "muted": False}

    async def wake(self) -> dict[str, Any]:
        return await self._answer("wake")

    async def mute(self) -> dict[str, Any]:
        return await self._answer("mute")

    async def unmute(self) -> dict[str, Any]:
        return await self._answer("unmute")

    async def say(self, text: str) -> dict[str, Any]:
        return await self._answer("say", text)

    async def outputs(self) -> dict[str, Any]:
        await self._answer("outputs")
        return {"outputs": [{"name": "kitchen_light", "on": True}]}


@pytest.fixture
def sock_path() -> Iterator[Path]:
    """A short socket path (AF_UNIX paths are limited to 107 bytes; tmp_path can be long)."""
    directory = Path(tempfile.mkdtemp(prefix="ea-ctl-"))
    yield directory / "control.sock"
    shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def serving(path: Path, handler: RecordingHandler, **kwargs: Any) -> AsyncIterator[ControlServer]:
    server = ControlServer(handler, **kwargs)
    await server.start(path)
    try:
        yield server
    finally:
        await server.close()


async def ask(path: Path, command: str, text: str | None = None) -> dict[str, Any]:
    return await asyncio.to_thread(request, path, command, text, 5 * SCALE)


def raw_exchange(path: Path, payload: bytes) -> dict[str, Any]:
    """Send ``payload`` as is and read one response line (for requests the client would not send)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5 * SCALE)
        sock.connect(str(path))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered and closed before reading it all
            sock.sendall(payload)
        with sock.makefile("rb") as stream:
            response: dict[str, Any] = json.loads(stream.readline())
    return response


def test_every_command_round_trips(sock_path: Path) -> None:
    handler = RecordingHandler()

    async def scenario() -> list[dict[str, Any]]:
        async with serving(sock_path, handler):
            return [
                await ask(sock_path, "status"),
                await ask(sock_path, "wake"),
                await ask(sock_path, "mute"),
                await ask(sock_path, "unmute"),
                await ask(sock_path, "say", "Dinner is ready"),
                await ask(sock_path, "outputs"),
            ]

    responses = run(scenario())
    assert handler.calls == [("status",), ("wake",), ("mute",), ("unmute",), ("say", "Dinner is ready"), ("outputs",)]
    assert responses == [
        {"ok": True, "phase": "standby", "muted": False},
        {"ok": True, "command": "wake"},
        {"ok": True, "command": "mute"},
        {"ok": True, "command": "unmute"},
        {"ok": True, "command": "say"},
        {"ok": True, "outputs": [{"name": "kitchen_light", "on": True}]},
    ]


def test_socket_is_mode_0660_and_removed_at_close(sock_path: Path) -> None:
    async def scenario() -> int:
        server = ControlServer(RecordingHandler())
        await server.start(sock_path)
        assert server.path == sock_path
        mode = os.stat(sock_path).st_mode
        assert stat.S_ISSOCK(mode)
        await server.close()
        await server.close()  # idempotent
        assert server.path is None
        return stat.S_IMODE(mode)

    assert run(scenario()) == 0o660
    assert not sock_path.exists()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        pytest.param(b"{not json\n", "not valid JSON", id="bad json"),
        pytest.param(b"\xff\xfe\n", "not valid JSON", id="not utf-8"),
        pytest.param(b'["status"]\n', "JSON object", id="not an object"),
        pytest.param(b'{"command": "dance"}\n', "unknown command 'dance'", id="unknown command"),
        pytest.param(b'{"text": "hi"}\n', "unknown command None", id="no command"),
        pytest.param(b'{"command": "status", "verbose": true}\n', "unknown key(s) 'verbose'", id="unknown key"),
        pytest.param(b'{"command": "say"}\n', "say needs a non-empty 'text'", id="say without text"),
        pytest.param(b'{"command": "say", "text": "  "}\n', "say needs a non-empty 'text'", id="say blank text"),
        pytest.param(b'{"command": "say", "text": 3}\n', "say needs a non-empty 'text'", id="say text not str"),
        pytest.param(b'{"command": "mute", "text": "x"}\n', "mute takes no 'text'", id="text on mute"),
        pytest.param(b"\n", "empty request", id="empty line"),
        pytest.param(b"x" * (MAX_REQUEST_BYTES + 10) + b"\n", "request too large", id="oversize"),
        pytest.param(b"x" * (4 * MAX_REQUEST_BYTES), "request too large", id="oversize without newline"),
    ],
)
def test_bad_requests_get_errors_and_the_server_keeps_serving(sock_path: Path, payload: bytes, error: str) -> None:
    handler = RecordingHandler()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serving(sock_path, handler):
            bad = await asyncio.to_thread(raw_exchange, sock_path, payload)
            good = await ask(sock_path, "status")
            return bad, good

    bad, good = run(scenario())
    assert bad["ok"] is False
    assert error in bad["error"]
    assert good["ok"] is True
    assert handler.calls == [("status",)]


def test_a_handler_exception_becomes_an_error_response(sock_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    handler = RecordingHandler()
    handler.fail = "wake"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serving(sock_path, handler):
            return await ask(sock_path, "wake"), await ask(sock_path, "mute")

    with caplog.at_level(logging.ERROR, logger="edge_agent.control"):
        failed, good = run(scenario())
    assert failed == {"ok": False, "error": "wake failed: RuntimeError: card gone"}
    assert good == {"ok": True, "command": "mute"}
    assert any("wake failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_slow_client_is_cut_off(sock_path: Path) -> None:
    def silent_client() -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5 * SCALE)
            sock.connect(str(sock_path))
            sock.sendall(b'{"command": ')  # and never finishes the line
            with sock.makefile("rb") as stream:
                response: dict[str, Any] = json.loads(stream.readline())
        return response

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serving(sock_path, RecordingHandler(), timeout_s=0.2):
            return await asyncio.to_thread(silent_client), await ask(sock_path, "status")

    late, good = run(scenario())
    assert late["ok"] is False and "no complete request line within 0.2 s" in late["error"]
    assert good["ok"] is True


def test_close_cuts_open_connections(sock_path: Path) -> None:
    async def scenario() -> bytes:
        server = ControlServer(RecordingHandler())
        await server.start(sock_path)
        reader, writer = await asyncio.open_unix_connection(str(sock_path))
        await asyncio.sleep(0.05)  # the server is now waiting for this client's line
        await server.close()
        try:
            data = await reader.read()
        except ConnectionResetError:  # closed before the server even accepted it
            data = b""
        writer.close()
        return data

    assert run(scenario()) == b""
    assert not sock_path.exists()


def test_start_replaces_a_stale_socket(sock_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays behind, nobody listens: a crashed daemon's socket

    async def scenario() -> dict[str, Any]:
        async with serving(sock_path, RecordingHandler()):
            return await ask(sock_path, "status")

    assert run(scenario())["ok"] is True


def test_start_refuses_a_live_socket_and_a_regular_file(sock_path: Path) -> None:
    async def scenario() -> None:
        async with serving(sock_path, RecordingHandler()):
            with pytest.raises(OSError, match="already running"):
                await ControlServer(RecordingHandler()).start(sock_path)
            assert (await ask(sock_path, "status"))["ok"] is True  # the first server is untouched

    run(scenario())
    sock_path.write_text("not a socket")
    with pytest.raises(FileExistsError, match="not a socket"):
        run(ControlServer(RecordingHandler()).start(sock_path))
    assert sock_path.read_text() == "not a socket"


def test_client_when_no_daemon_runs(sock_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match=f"is edge-agent running\\? no socket at {sock_path}") as info:
        request(sock_path, "status")
    assert isinstance(info.value, ConnectionError)

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()
    with pytest.raises(DaemonNotRunning, match="nobody is listening"):
        request(sock_path, "status")


def test_client_permission_denied_names_the_group(sock_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen()
    os.chmod(sock_path.parent, 0o755)
    try:
        if os.geteuid() == 0:
            outcome = _request_as_nobody(sock_path)  # file modes do not stop root
        else:
            os.chmod(sock_path, 0o000)
            outcome = _outcome(sock_path)
    finally:
        listener.close()
    assert outcome == (
        f"ControlPermissionDenied: permission denied on {sock_path}: add yourself to group edge-agent "
        "(sudo usermod -aG edge-agent $USER, then log in again)"
    )


def _outcome(path: Path) -> str:
    try:
        request(path, "status", timeout=1)
    except ControlError as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def _request_as_nobody(path: Path) -> str:
    """Fork, become ``nobody`` (not in the socket's group) and try the client there."""
    os.chmod(path, 0o660)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe and never return into pytest
        try:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            except OSError as error:
                os.write(write_end, f"cannot become nobody: {error}".encode())
            else:
                os.write(write_end, _outcome(path).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    if outcome.startswith("cannot become nobody"):
        pytest.skip(outcome)
    return outcome


def test_client_times_out_when_the_daemon_does_not_answer(sock_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen()  # accepts (kernel backlog) but never answers
    try:
        with pytest.raises(ControlTimeout, match="did not answer within 0.2 s"):
            request(sock_path, "status", timeout=0.2)
    finally:
        listener.close()


def test_client_rejects_a_garbled_answer(sock_path: Path) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_unix_server(garbage, path=str(sock_path))
        async with server:
            with pytest.raises(ControlProtocolError, match="unexpected answer"):
                await ask(sock_path, "status")

    run(scenario())


def test_socket_path_default_and_override() -> None:
    assert Path("/run/edge-agent/control.sock") == DEFAULT_SOCKET
    assert socket_path({}) == DEFAULT_SOCKET
    assert socket_path({"EDGE_AGENT_CONTROL_SOCKET": ""}) == DEFAULT_SOCKET
    assert socket_path({"EDGE_AGENT_CONTROL_SOCKET": "/tmp/ea.sock"}) == Path("/tmp/ea.sock")


def test_format_status_known_keys_first_then_the_rest_sorted() -> None:
    status = {
        "ok": True,
        "zeta": 1,
        "tokens": {"prompt": 1200, "response": 340},
        "last_error": None,
        "audio": {"capture_rate": 16000, "xruns": 2, "latency_ms": 41.7, "level_dbfs": -23.456},
        "muted": False,
        "connection": "connected",
        "phase": "listening",
        "uptime_s": 3725.0,
        "alpha_beta": [1, 2],
        "outputs": [{"name": "fan", "on": True}],
        "session_s": 12.34,
        "empty": {},
    }
    assert format_status(status) == "\n".join(
        [
            "Phase:      listening",
            "Muted:      no",
            "Connection: connected",
            "Uptime:     1 h 02 min",
            "Last error: -",
            "Tokens:",
            "  Prompt:   1200",
            "  Response: 340",
            "Audio:",
            "  Capture rate: 16000",
            "  Xruns:        2",
            "  Latency:      42 ms",
            "  Level dbfs:   -23.46",
            "Outputs:",
            "  - name=fan on=yes",
            "Alpha beta: 1, 2",
            "Empty:      -",
            "Session:    12.3 s",
            "Zeta:       1",
        ]
    )


def test_format_status_of_nothing() -> None:
    assert format_status({"ok": True}) == ""
    assert format_status({"phase": "standby"}) == "Phase: standby"
