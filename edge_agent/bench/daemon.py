"""``edge-agent bench daemon``: the whole daemon as systemd runs it: start-up, footprint per phase, shutdown.

``python -m edge_agent run`` runs in a child process on simulated hardware, against the fake Live
server (TLS on loopback) that this process serves; its CA is written to a file named by
``live.ca_file``, and the key comes from ``$GEMINI_API_KEY``, as on a device. Measured:

* **start-up to READY**: from just before the child is spawned to the ``READY=1`` datagram on a
  ``$NOTIFY_SOCKET`` this process binds (interpreter start, imports, config, hardware, audio
  thread; READY never waits for the network), and to the server's ``setupComplete``;
* **steady RSS and CPU** of the child in three phases, from ``/proc/<pid>/status`` (``VmRSS``)
  and ``/proc/<pid>/stat`` (``utime + stime`` of all threads, in clock ticks) over a window each:
  *standby* (``listening.mode = "on_wake"``, no wake), *listening* (after ``ctl wake`` on the
  control socket: the microphone, silence here, streams to the server) and *speaking* (after
  ``ctl say``, the server streams a long reply in real time and the speaker plays it);
* **shutdown**: SIGTERM to exit, and the exit code.

The start-up is repeated (``runs``); the phases are measured in the last run. The phase is
checked with ``ctl status`` before and after each window, never during one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from edge_agent.control import SOCKET_ENV, request
from edge_agent.live import fake_script as fs
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.settings import render_settings, settings_from_mapping

KEY = "bench-key"
CONFIG_ENV = "EDGE_AGENT_CONFIG"
CLK_TCK = os.sysconf("SC_CLK_TCK")
_STRIPPED_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID")
"""Inherited variables that would make the child talk to someone else's systemd or journal."""


# ------------------------------------------------------------------ /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid`` so far (``/proc/<pid>/stat``, tick resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the command name may hold spaces; it ends at ")"
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5): utime, stime


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (``VmRSS`` in ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass(frozen=True)
class Footprint:
    """CPU and memory of a process over a window."""

    cpu_ms_per_s: float
    rss_mb: float
    """The median of the samples."""
    rss_max_mb: float


async def footprint(pid: int, seconds: float, interval_s: float = 0.25) -> Footprint:
    """Sample ``pid`` for ``seconds``: CPU ms per wall second, RSS median and maximum."""
    t0, cpu0 = time.monotonic(), cpu_seconds(pid)
    samples = [rss_mb(pid)]
    while (left := t0 + seconds - time.monotonic()) > 0:
        await asyncio.sleep(min(interval_s, left))
        samples.append(rss_mb(pid))
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    return Footprint(
        round((cpu1 - cpu0) * 1000 / (t1 - t0), 1), round(statistics.median(samples), 1), round(max(samples), 1)
    )


# ------------------------------------------------------------ the child


def child_config(directory: Path, server: FakeLiveServer, **sections: dict[str, Any]) -> dict[str, Any]:
    """A simulated-hardware config for a child daemon talking to ``server``; ``sections`` override keys."""
    config: dict[str, Any] = {
        "live": {"base_url": server.base_url, "ca_file": str(directory / "ca.pem")},
        "hardware": {"backend": "simulated"},
        "listening": {"mode": "on_wake", "idle_timeout_s": 60.0},
        "button": {"pin": 27},
        "daemon": {"state_dir": str(directory / "state")},
        "outputs": [
            {"name": "lamp", "kind": "led", "pin": 17, "description": "A lamp"},
            {"name": "fan", "kind": "relay", "pin": 22, "active_high": False},
        ],
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


class ChildDaemon:
    """``python -m edge_agent run --config …`` in a child process, with its own notify and control sockets.

    Thread: the event loop that serves the fake server. ``start``, then ``wait_ready``; ``stop``
    sends SIGTERM; ``close`` (always, in ``finally``) kills a child still running.
    """

    def __init__(
        self, directory: Path, server: FakeLiveServer, config: dict[str, Any], env: Mapping[str, str] | None = None
    ) -> None:
        self.directory = directory
        self.server = server
        self.config = config
        self.env = dict(env or {})
        """Extra environment for the child (e.g. a PulseRig's ALSA_CONFIG_PATH)."""
        self.control = directory / "control.sock"
        self.datagrams: list[tuple[float, str]] = []
        self.spawned_t = 0.0
        self.ready_t: float | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._ready = asyncio.Event()
        self._notify: socket.socket | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The child's process id (after :meth:`start`)."""
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        """Write the CA and the config, bind ``$NOTIFY_SOCKET``, spawn the daemon."""
        await asyncio.to_thread(self._prepare)
        notify = self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(self.directory / "notify.sock"))
        notify.setblocking(False)
        asyncio.get_running_loop().add_reader(notify.fileno(), self._on_datagram)
        await asyncio.to_thread(self._spawn)

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.server.write_ca(self.directory / "ca.pem")
        path = self.directory / "edge-agent.toml"
        settings = settings_from_mapping(self.config, source=str(path))
        path.write_text(render_settings(settings, None), encoding="utf-8")

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV and k != CONFIG_ENV}
        env |= {"GEMINI_API_KEY": KEY, "NOTIFY_SOCKET": str(self.directory / "notify.sock")}
        env[SOCKET_ENV] = str(self.control)
        env |= self.env
        self._log = (self.directory / "daemon.log").open("wb")
        argv = [sys.executable, "-m", "edge_agent", "run", "--config", str(self.directory / "edge-agent.toml")]
        self.spawned_t = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env)

    def _on_datagram(self) -> None:
        assert self._notify is not None
        while True:
            try:
                text = self._notify.recv(4096).decode("utf-8", "replace")
            except BlockingIOError:
                return
            now = time.monotonic()
            self.datagrams.append((now, text))
            if "READY=1" in text.splitlines() and self.ready_t is None:
                self.ready_t = now
                self._ready.set()

    async def wait_ready(self, timeout_s: float) -> float:
        """Seconds from spawn to ``READY=1``; raises (with the child's log) when it does not come."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.is_set():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode} before READY=1:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no READY=1 within {timeout_s:g} s:\n{self.log_tail()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 0.1)
        assert self.ready_t is not None
        return self.ready_t - self.spawned_t

    async def ctl(self, command: str, text: str | None = None) -> dict[str, Any]:
        """One ``edge-agent ctl`` request over the child's control socket."""
        return await asyncio.to_thread(request, self.control, command, text)

    async def wait_phase(self, phase: str, timeout_s: float) -> None:
        """Poll ``ctl status`` until the daemon reports ``phase``."""
        deadline = time.monotonic() + timeout_s
        while (status := await self.ctl("status")).get("phase") != phase:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the daemon stayed in {status.get('phase')!r}, not {phase!r}:\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    async def stop(self, timeout_s: float = 30.0) -> tuple[float, int]:
        """SIGTERM; return (seconds until it exited, exit code)."""
        assert self.proc is not None
        proc = self.proc
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout_s)
        except TimeoutError:
            proc.kill()
            tail = self.log_tail()
            raise TimeoutError(f"the daemon did not exit within {timeout_s:g} s of SIGTERM:\n{tail}") from None
        return time.monotonic() - sent, code

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the child logged."""
        path = self.directory / "daemon.log"
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:]) if path.exists() else ""

    async def close(self) -> None:
        """Kill the child if it still runs; close the notify socket and the log. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
        if self._notify is not None:
            asyncio.get_running_loop().remove_reader(self._notify.fileno())
            self._notify.close()
            self._notify = None
        if self._log is not None:
            self._log.close()
            self._log = None


async def wait_connected(server: FakeLiveServer, timeout_s: float) -> float:
    """The ``time.monotonic()`` at which the server sent its first ``setupComplete``."""
    deadline = time.monotonic() + timeout_s
    # Polling: the server records what it sent but has no event for it.
    while not (done := [m.t for m in server.sent if "setupComplete" in m.payload]):  # noqa: ASYNC110
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Live connection within {timeout_s:g} s")
        await asyncio.sleep(0.02)
    return done[0]


# ------------------------------------------------------------ the benchmark


def _reply(seconds: float) -> bytes:
    """A loud 24 kHz reply: a 220 Hz tone with a little noise (the daemon never looks inside)."""
    t = np.arange(int(seconds * 24000)) / 24000
    tone = 8000 * np.sin(2 * np.pi * 220 * t) + np.random.default_rng(3).normal(0, 500, t.size)
    return bytes(tone.astype("<i2").tobytes())


async def _one_run(directory: Path, *, phases: bool, window_s: float, settle_s: float) -> dict[str, Any]:
    reply_s = settle_s + window_s + 2.0
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSetup()),
            fs.Step(on=fs.OnText(), do=(fs.Audio(_reply(reply_s), realtime=True), fs.TurnComplete())),
        )
    )
    out: dict[str, Any] = {}
    async with FakeLiveServer(script, api_key=KEY) as server:
        child = ChildDaemon(directory, server, child_config(directory, server))
        try:
            await child.start()
            out["ready_s"] = await child.wait_ready(30)
            out["connected_s"] = await wait_connected(server, 30) - child.spawned_t
            if phases:
                await asyncio.sleep(settle_s)
                await child.wait_phase("standby", 5)
                out["standby"] = await footprint(child.pid, window_s)
                await child.wait_phase("standby", 1)
                await child.ctl("wake")
                await child.wait_phase("listening", 5)
                await asyncio.sleep(settle_s)
                out["listening"] = await footprint(child.pid, window_s)
                await child.wait_phase("listening", 1)
                await child.ctl("say", "Tell me a long story.")
                await child.wait_phase("responding", 10)
                await asyncio.sleep(0.5)
                out["speaking"] = await footprint(child.pid, window_s)
                await child.wait_phase("responding", 1)
            out["shutdown_s"], out["exit_code"] = await child.stop()
        finally:
            await child.close()
    return out


async def _run(runs: int, window_s: float, settle_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as tmp:
        results = [
            await _one_run(Path(tmp) / f"run-{i}", phases=i == runs - 1, window_s=window_s, settle_s=settle_s)
            for i in range(runs)
        ]
    ready = [r["ready_s"] * 1000 for r in results]
    connected = [r["connected_s"] * 1000 for r in results]
    shutdown = [r["shutdown_s"] * 1000 for r in results]
    figures: dict[str, Any] = {
        "runs": runs,
        "startup_to_ready_median_ms": round(statistics.median(ready), 1),
        "startup_to_ready_max_ms": round(max(ready), 1),
        "startup_to_connected_median_ms": round(statistics.median(connected), 1),
        "window_s": window_s,
    }
    last = results[-1]
    for phase in ("standby", "listening", "speaking"):
        fp: Footprint = last[phase]
        figures[f"{phase}_cpu_ms_per_s"] = fp.cpu_ms_per_s
        figures[f"{phase}_rss_mb"] = fp.rss_mb
    figures["rss_max_mb"] = max(last[p].rss_max_mb for p in ("standby", "listening", "speaking"))
    figures["shutdown_median_ms"] = round(statistics.median(shutdown), 1)
    figures["shutdown_max_ms"] = round(max(shutdown), 1)
    figures["exit_code"] = next((r["exit_code"] for r in results if r["exit_code"] != 0), 0)
    return figures


def run(runs: int = 3, window_s: float = 5.0, settle_s: float = 1.0) -> dict[str, Any]:
    """Run the benchmark (about 35 s with the defaults) and return its figures."""
    if runs < 1 or window_s <= 0:
        raise ValueError("runs must be >= 1 and window_s > 0")
    return asyncio.run(_run(runs, window_s, settle_s))
