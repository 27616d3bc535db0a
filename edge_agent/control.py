"""The local control socket behind ``edge-agent ctl …``: a Unix stream socket, never TCP.

One request per connection: the client sends one JSON line, the server answers one JSON line
and closes::

    > {"command": "say", "text": "Dinner is ready"}
    < {"ok": true, "queued": true}
    > {"command": "dance"}
    < {"ok": false, "error": "unknown command 'dance'; expected one of status, wake, mute, unmute, say, outputs"}

``say`` needs a non-empty ``"text"``; no other command takes one. Bad JSON, an unknown command
or key, a missing text, a request over :data:`MAX_REQUEST_BYTES` or too slow, and a handler
that raises all get ``{"ok": false, "error": …}``, and the server carries on. Access is by file
permissions: mode 0660, group ``edge-agent`` when that group exists.

:class:`ControlServer` runs on the daemon's event loop and calls a :class:`ControlHandler`;
:func:`request` is the CLI's blocking client. :func:`format_status`, which renders ``ctl status``,
lives in :mod:`edge_agent.control_format` and is re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from edge_agent.control_format import STATUS_ORDER, format_status
from edge_agent.errors import EdgeAgentError

__all__ = [
    "COMMANDS",
    "CONTROL_GROUP",
    "DEFAULT_SOCKET",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "SOCKET_ENV",
    "SOCKET_MODE",
    "STATUS_ORDER",
    "BadRequest",
    "ControlError",
    "ControlHandler",
    "ControlPermissionDenied",
    "ControlProtocolError",
    "ControlServer",
    "ControlTimeout",
    "DaemonNotRunning",
    "JsonObject",
    "format_status",
    "parse_request",
    "request",
    "socket_path",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_SOCKET = Path("/run/edge-agent/control.sock")
"""Where the daemon listens (``RuntimeDirectory=edge-agent``); see :func:`socket_path`."""
SOCKET_ENV = "EDGE_AGENT_CONTROL_SOCKET"
"""Environment variable overriding :data:`DEFAULT_SOCKET`, for the daemon and the client alike."""
CONTROL_GROUP = "edge-agent"
"""Group given the socket (best effort); its members may use ``edge-agent ctl``."""
SOCKET_MODE = 0o660
COMMANDS = ("status", "wake", "mute", "unmute", "say", "outputs")
MAX_REQUEST_BYTES = 64 * 1024
"""Longest request line accepted, newline excluded."""
MAX_RESPONSE_BYTES = 1024 * 1024
"""Longest response line the client reads."""

JsonObject = dict[str, Any]


def socket_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$EDGE_AGENT_CONTROL_SOCKET`` if set and non-empty, else :data:`DEFAULT_SOCKET`."""
    value = (os.environ if environ is None else environ).get(SOCKET_ENV)
    return Path(value) if value else DEFAULT_SOCKET


class ControlError(EdgeAgentError, ConnectionError):
    """The client could not get an answer from the daemon; the message says what to do."""


class DaemonNotRunning(ControlError):
    """No socket at the path, or nobody listening on it."""


class ControlPermissionDenied(ControlError):
    """The socket exists but this user may not connect (not in group ``edge-agent``)."""


class ControlTimeout(ControlError):
    """The daemon did not answer in time."""


class ControlProtocolError(ControlError):
    """The daemon's answer was not one JSON object line."""


class ControlHandler(Protocol):
    """What the daemon implements for the control socket.

    Every method runs on the event loop, should return promptly (start an action, do not wait
    for it to finish) and returns a JSON-serialisable dict that becomes the response, with
    ``"ok": true`` added. An exception becomes ``{"ok": false, "error": …}`` and is logged.
    """

    async def status(self) -> JsonObject:
        """Phase, mute, connection, last error, token use, audio figures."""

    async def wake(self) -> JsonObject:
        """Open the microphone as a button tap would."""

    async def mute(self) -> JsonObject:
        """Stop streaming the microphone until :meth:`unmute`."""

    async def unmute(self) -> JsonObject:
        """Undo :meth:`mute`."""

    async def say(self, text: str) -> JsonObject:
        """Have the model say (or respond to) ``text``."""

    async def outputs(self) -> JsonObject:
        """The configured outputs and their states."""


class BadRequest(ValueError):
    """A request the server refuses; the message is sent back as ``error``."""


def parse_request(line: bytes) -> tuple[str, str | None]:
    """Validate one request line; return ``(command, text)``. Raises :class:`BadRequest`. Pure."""
    try:
        request = json.loads(line)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise BadRequest(f"request is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest('request must be a JSON object such as {"command": "status"}')
    extra = sorted(set(request) - {"command", "text"})
    if extra:
        raise BadRequest(f"unknown key(s) {', '.join(map(repr, extra))}; expected 'command' and, for say, 'text'")
    command = request.get("command")
    if command not in COMMANDS:
        raise BadRequest(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
    text = request.get("text")
    if command == "say":
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("say needs a non-empty 'text'")
        return command, text
    if text is not None:
        raise BadRequest(f"{command} takes no 'text'")
    return command, None


def _encode(response: JsonObject) -> bytes:
    return json.dumps(response, separators=(",", ":")).encode() + b"\n"


def _error(message: str) -> JsonObject:
    return {"ok": False, "error": message}


class ControlServer:
    """Serves the control socket for one :class:`ControlHandler`.

    ``await start(path)``, later ``await close()``. Thread: the event loop. Each connection is
    one request and one response, bounded by ``max_request_bytes`` and by ``timeout_s`` for
    reading the request, for the handler and for writing the response.
    """

    def __init__(
        self,
        handler: ControlHandler,
        *,
        group: str | None = CONTROL_GROUP,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        timeout_s: float = 5.0,
    ) -> None:
        self._handler = handler
        self._group = group
        self._max_request_bytes = max_request_bytes
        self._timeout_s = timeout_s
        self._server: asyncio.AbstractServer | None = None
        self._path: Path | None = None
        self._inode: int | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    @property
    def path(self) -> Path | None:
        """The socket path while serving, else None."""
        return self._path if self._server is not None else None

    async def start(self, path: Path) -> None:
        """Create the socket at ``path`` (mode 0660, group ``edge-agent`` if any) and serve.

        A stale socket file (nobody listening) is replaced. Raises ``FileExistsError`` if
        ``path`` is something other than a socket, ``OSError(EADDRINUSE)`` if another process
        serves it, ``OSError`` if it cannot be created, ``RuntimeError`` if already started.
        The socket only listens once its mode is set, so no one connects in between.
        """
        if self._server is not None:
            raise RuntimeError("control server already started")
        os.makedirs(path.parent, exist_ok=True)
        _remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            self._inode = os.stat(path).st_ino
            os.chmod(path, SOCKET_MODE)
            self._give_to_group(path)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=self._max_request_bytes)
        except BaseException:
            sock.close()
            self._unlink_ours(path)
            raise
        self._path = path
        _LOGGER.info("control socket listening on %s", path)

    async def close(self) -> None:
        """Stop serving, cancel open connections and remove the socket file. Idempotent.

        The file is removed only if it is still the one :meth:`start` created.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()
        path, self._path = self._path, None
        if path is not None:
            self._unlink_ours(path)

    def _unlink_ours(self, path: Path) -> None:
        """Remove ``path`` if it is still the socket we bound (not a successor's)."""
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(path).st_ino == self._inode:
                os.unlink(path)

    def _give_to_group(self, path: Path) -> None:
        """Give ``path`` to the control group if it exists. Best effort: failures are logged."""
        if not self._group:
            return
        try:
            os.chown(path, -1, grp.getgrnam(self._group).gr_gid)
        except KeyError:
            _LOGGER.debug("no group %r; control socket %s stays in the daemon's group", self._group, path)
        except OSError as error:
            _LOGGER.warning("cannot give control socket %s to group %s: %s", path, self._group, error)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: read a line, dispatch, answer, close. Never raises."""
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each connection callback in its own task
        self._connections.add(task)
        try:
            if self._server is None:
                response = _error("edge-agent is shutting down")
            else:
                response = await self._exchange(reader, _peer(writer))
            writer.write(_encode(response))
            async with asyncio.timeout(self._timeout_s):
                await writer.drain()
        except (ConnectionError, TimeoutError) as error:
            _LOGGER.debug("control connection dropped: %r", error)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(self._timeout_s):
                    await writer.wait_closed()
            self._connections.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, peer: str) -> JsonObject:
        """Read and answer one request; every failure becomes an error response."""
        try:
            async with asyncio.timeout(self._timeout_s):
                line = await reader.readline()
        except TimeoutError:
            return _error(f"no complete request line within {self._timeout_s:g} s")
        except ValueError:  # the line is longer than the StreamReader limit
            return _error(f"request too large (limit {self._max_request_bytes} bytes)")
        if not line.strip():
            return _error("empty request")
        try:
            command, text = parse_request(line)
        except BadRequest as error:
            _LOGGER.warning("control: bad request from %s: %s", peer, error)
            return _error(str(error))
        level = logging.DEBUG if command in ("status", "outputs") else logging.INFO
        _LOGGER.log(level, "control: %s from %s", command, peer)
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await self._dispatch(command, text)
            if not isinstance(result, dict):
                raise TypeError(f"handler returned {type(result).__name__}, not dict")
            if result.get("ok") is False:  # the handler refused: pass its reason on
                return _error(str(result.get("error", f"{command} refused")))
            response: JsonObject = {"ok": True, **{k: v for k, v in result.items() if k != "ok"}}
            _encode(response)  # fail here, inside the try, if it is not JSON-serialisable
        except TimeoutError:
            _LOGGER.error("control: %s did not finish within %g s", command, self._timeout_s)
            return _error(f"{command} timed out after {self._timeout_s:g} s")
        except Exception as error:  # noqa: BLE001 - a failing command must answer, not kill the server
            _LOGGER.exception("control: %s failed", command)
            return _error(f"{command} failed: {type(error).__name__}: {error}")
        return response

    async def _dispatch(self, command: str, text: str | None) -> JsonObject:
        if command == "say":
            return await self._handler.say(text or "")
        method: Callable[[], Awaitable[JsonObject]] = getattr(self._handler, command)  # one of COMMANDS
        return await method()


def _peer(writer: asyncio.StreamWriter) -> str:
    """``uid U pid P`` of the connected process (SO_PEERCRED), for the log."""
    sock = writer.get_extra_info("socket")
    try:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (AttributeError, OSError, struct.error):
        return "unknown peer"
    return f"uid {uid} pid {pid}"


def _remove_stale(path: Path) -> None:
    """Remove ``path`` if it is a socket nobody listens on; refuse anything else that exists.

    Blocks for at most one local ``connect()`` (the daemon is starting; nothing else runs yet).
    """
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket; not replacing it")
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            _LOGGER.info("removing stale control socket %s", path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        except TimeoutError:
            pass
    raise OSError(errno.EADDRINUSE, f"another process serves {path}; is edge-agent already running?")


def request(path: Path, command: str, text: str | None = None, timeout: float = 5.0) -> JsonObject:
    """Send one command to the daemon and return its response (``{"ok": …, …}``).

    Blocking (a plain socket; ``timeout`` bounds connecting, sending and the answer each).
    Thread: any; from asyncio code call it through ``asyncio.to_thread``. An ``"ok": false``
    response is returned, not raised. Raises :class:`ControlError` (a ``ConnectionError``)
    with a message for the user: :class:`DaemonNotRunning`, :class:`ControlPermissionDenied`,
    :class:`ControlTimeout`, :class:`ControlProtocolError`.
    """
    message: JsonObject = {"command": command} if text is None else {"command": command, "text": text}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may have answered already
                sock.sendall(_encode(message))
            with sock.makefile("rb") as stream:
                data = stream.readline(MAX_RESPONSE_BYTES)
    except FileNotFoundError:
        raise DaemonNotRunning(f"is edge-agent running? no socket at {path}") from None
    except ConnectionRefusedError:
        raise DaemonNotRunning(f"is edge-agent running? nobody is listening on {path}") from None
    except PermissionError:
        raise ControlPermissionDenied(
            f"permission denied on {path}: add yourself to group {CONTROL_GROUP} "
            f"(sudo usermod -aG {CONTROL_GROUP} $USER, then log in again)"
        ) from None
    except TimeoutError:
        raise ControlTimeout(f"edge-agent did not answer within {timeout:g} s ({path})") from None
    except OSError as error:
        raise ControlError(f"cannot talk to edge-agent at {path}: {error}") from None
    if not data:
        raise ControlProtocolError("edge-agent closed the connection without answering")
    try:
        response = json.loads(data)
    except ValueError:
        response = None
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise ControlProtocolError(f"edge-agent sent an unexpected answer: {data[:200]!r}")
    return response
