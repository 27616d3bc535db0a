"""A private PulseAudio server that gives clocked virtual sound devices (for benchmarks and tests).

No sound card is needed: two null sinks keep real time on the system clock, and alsa-lib's
``pulse`` plugin (libasound2-plugins) makes them ALSA PCMs that pyalsaaudio opens like any card::

    daemon ──write──▶ paspk  = sink "spk"            ──▶ roomin  = "spk.monitor"   (what the room hears)
    daemon ◀──read─── pamic  = "micsrc.monitor"      ◀── roomout = sink "micsrc"    (what the room plays)

The server runs in its own temporary directory (socket, ``default.pa``, the ALSA config,
``HOME``/``XDG_RUNTIME_DIR``, its log), with anonymous auth on a private UNIX socket. Every PCM
names the server explicitly, so :attr:`PulseRig.alsa_config_path` alone makes them work; child
processes get :attr:`PulseRig.env`. Two start-up quirks are handled (desktop-hardware.md §1):
a null sink renders 2 s blocks until a low-latency client plays into it (so a ``pacat
--latency-msec=10 /dev/zero`` *keeper* runs on each sink) and the first stream in the first
~2 s stalls for ~1.96 s (so :meth:`PulseRig.start` waits 2.1 s after the server answers).

Unplugging (:meth:`PulseRig.unplug`) kills the streams on a sink and unloads its module
(unloading alone would make PulseAudio 16 silently *move* them to the other sink). Measured with
the ALSA ``pulse`` plugin and pyalsaaudio 0.11, and checked by ``tests/bench/test_pulse_rig.py``:

* after the unplug, every ``read()``/``write()`` on a PCM of that sink (or its monitor) raises
  ``ALSAAudioError("Input/output error [<pcm>]")`` (EIO; alsa-lib also prints ``pulse_prepare)
  PulseAudio: Unable to create stream: No such entity`` as it tries to recreate the stream);
* opening such a PCM while unplugged raises the same ``Input/output error``;
* after :meth:`PulseRig.replug`, an old capture PCM may come back (one -EPIPE, then data), an old
  playback PCM keeps failing: clients must close and reopen. PCMs of the other sink never notice.

Thread: a rig is driven from one thread; nothing here is thread-safe. Typical use::

    with PulseRig() as rig:
        subprocess.run([...], env={**os.environ, **rig.env})
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

from edge_agent.errors import EdgeAgentError

APT_PACKAGES = "pulseaudio pulseaudio-utils libasound2-plugins"
SETTLE_S = 2.1
"""Wait after the server answers: the first stream in its first ~2 s stalls ~1.96 s (measured)."""
PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/aarch64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/arm-linux-gnueabihf/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so",
)
"""Where distributions put the ALSA ``pulse`` PCM plugin (libasound2-plugins)."""
PCMS = {"pamic": "micsrc.monitor", "paspk": "spk", "roomin": "spk.monitor", "roomout": "micsrc"}
"""ALSA PCM name → PulseAudio device it opens."""


class PulseRigError(EdgeAgentError, RuntimeError):
    """The private PulseAudio server could not be started or driven."""


class PulseNotInstalled(PulseRigError):
    """``pulseaudio``, ``pactl``/``pacat`` or the ALSA ``pulse`` plugin is missing."""


def pulse_missing() -> str | None:
    """What is missing for a :class:`PulseRig` (a message naming the apt packages), or None. Cheap, no I/O but stat."""
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat") if shutil.which(tool) is None]
    if not any(os.path.exists(p) for p in PLUGIN_PATHS):
        missing.append("the ALSA pulse plugin (libasound_module_pcm_pulse.so)")
    if not missing:
        return None
    return f"PulseAudio test devices need {', '.join(missing)}: apt-get install {APT_PACKAGES}"


class PulseRig:
    """A private PulseAudio server with two clocked null sinks, ``spk`` and ``micsrc``, and an ALSA config.

    ``speaker_rate``/``mic_rate``: the sinks' sample rates (mono, s16le). Construct, then
    :meth:`start` (or ``with``); :meth:`close` always, even after a failed start. Thread: one
    thread drives the rig. Children are killed by :meth:`close`, and also at interpreter exit
    if the rig was never closed.
    """

    def __init__(self, *, speaker_rate: int = 48000, mic_rate: int = 48000, settle_s: float = SETTLE_S) -> None:
        self.rates = {"spk": speaker_rate, "micsrc": mic_rate}
        self.settle_s = settle_s
        self._dir: Path | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._keepers: dict[str, subprocess.Popen[bytes]] = {}
        self._modules: dict[str, int] = {}
        self._children: list[subprocess.Popen[bytes]] = []  # everything ever spawned, for close()
        self._finalizer: weakref.finalize[..., PulseRig] | None = None

    # ------------------------------------------------------------ where things are

    @property
    def directory(self) -> Path:
        """The rig's temporary directory (after :meth:`start`)."""
        if self._dir is None:
            raise PulseRigError("PulseRig.start() has not been called")
        return self._dir

    @property
    def socket_path(self) -> Path:
        """The server's native-protocol UNIX socket."""
        return self.directory / "native"

    @property
    def server(self) -> str:
        """``unix:<socket>``: the value for ``$PULSE_SERVER`` or an ALSA ``server`` key."""
        return f"unix:{self.socket_path}"

    @property
    def alsa_config_file(self) -> Path:
        """The ALSA config defining ``pamic``, ``paspk``, ``roomin`` and ``roomout``."""
        return self.directory / "asound.conf"

    @property
    def alsa_config_path(self) -> str:
        """The full ``$ALSA_CONFIG_PATH`` value: alsa-lib's own config first, then the rig's."""
        return f"/usr/share/alsa/alsa.conf:{self.alsa_config_file}"

    @property
    def env(self) -> dict[str, str]:
        """Variables to merge into a child's environment so its ALSA and PulseAudio clients use the rig."""
        d = str(self.directory)
        return {
            "ALSA_CONFIG_PATH": self.alsa_config_path,
            "PULSE_SERVER": self.server,
            "PULSE_CLIENTCONFIG": str(self.directory / "client.conf"),
            "HOME": d,
            "XDG_RUNTIME_DIR": d,
            "XDG_CONFIG_HOME": str(self.directory / "config"),
        }

    @property
    def log_path(self) -> Path:
        """The server's log (stderr)."""
        return self.directory / "pulseaudio.log"

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and a keeper per sink, wait until ``pactl info`` answers, then settle.

        Blocking (about ``settle_s`` + 0.1 s). Idempotent. Raises :class:`PulseNotInstalled`
        when PulseAudio is missing, :class:`PulseRigError` when it does not come up (after
        killing whatever it started).
        """
        if self._server is not None:
            return
        if (missing := pulse_missing()) is not None:
            raise PulseNotInstalled(missing)
        try:
            self._start(timeout_s)
        except BaseException:
            self.close()
            raise

    def _start(self, timeout_s: float) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="edge-agent-pulse-"))
        self._finalizer = weakref.finalize(self, _kill_all, self._children, self._dir)
        (self._dir / "config").mkdir()
        (self._dir / "client.conf").write_text("autospawn = no\n", encoding="utf-8")
        lines = [f"load-module module-native-protocol-unix socket={self.socket_path} auth-anonymous=1"]
        lines.append(f"load-module module-cli-protocol-unix socket={self.directory / 'cli'}")
        lines += [f"load-module module-null-sink {self._sink_args(sink)}" for sink in self.rates]
        (self._dir / "default.pa").write_text("\n".join(lines) + "\n", encoding="utf-8")
        pcms = [f'pcm.{name} {{ type pulse; device "{dev}"; server "{self.server}" }}' for name, dev in PCMS.items()]
        pcms.append(f'ctl.pulserig {{ type pulse; server "{self.server}" }}')
        self.alsa_config_file.write_text("\n".join(pcms) + "\n", encoding="utf-8")
        argv = ["pulseaudio", "-n", "--daemonize=no", "--use-pid-file=no", "--disable-shm=yes", "--exit-idle-time=-1"]
        argv += ["--system=no", "--high-priority=no", "--realtime=no", "-F", str(self._dir / "default.pa")]
        self._server = self._spawn(argv, self.log_path)
        deadline = time.monotonic() + timeout_s
        while self._pactl("info", check=False).returncode != 0:
            if self._server.poll() is not None:
                raise PulseRigError(f"pulseaudio exited with {self._server.returncode}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise PulseRigError(f"pulseaudio did not answer within {timeout_s:g} s:\n{self._log_tail()}")
            time.sleep(0.02)
        for line in self._pactl("list", "short", "modules").stdout.splitlines():
            index, name, args = (line.split("\t") + ["", ""])[:3]
            if name == "module-null-sink":
                sink = args.split("sink_name=", 1)[1].split()[0]
                self._modules[sink] = int(index)
        for sink in self.rates:
            self._start_keeper(sink)
        time.sleep(self.settle_s)

    def close(self) -> None:
        """Kill every child (keepers first, then the server) and remove the directory. Idempotent; never raises."""
        if self._finalizer is not None:
            self._finalizer()  # runs _kill_all once
            self._finalizer = None
        self._server = None
        self._keepers.clear()
        self._modules.clear()

    def __enter__(self) -> PulseRig:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """Process ids of the children still running (server and keepers)."""
        return [p.pid for p in self._children if p.poll() is None]

    # ------------------------------------------------------------ unplug / replug

    def unplug(self, sink: str) -> None:
        """Remove sink ``spk`` or ``micsrc`` (``pactl unload-module``), as if the device were pulled out.

        Its keeper is stopped first; streams on the sink (or its monitor) are killed by the
        server. Blocking (one ``pactl`` call). Idempotent.
        """
        self._check_sink(sink)
        keeper = self._keepers.pop(sink, None)
        if keeper is not None:
            _terminate(keeper)
        module = self._modules.pop(sink, None)
        if module is not None:
            # Unloading alone makes PulseAudio 16 *move* the sink's streams to the other sink (the
            # speaker would then play into the microphone), so they are killed first, in the same
            # CLI batch so that no client can open a new stream in between. pactl cannot kill streams.
            kills = [f"kill-sink-input {i}" for i in self._streams("sink-inputs", sink)]
            kills += [f"kill-source-output {i}" for i in self._streams("source-outputs", f"{sink}.monitor")]
            self._cli([*kills, f"unload-module {module}"])

    def replug(self, sink: str) -> None:
        """Load sink ``sink`` again with the same name and rate, restart its keeper, and settle.

        Blocking (about ``settle_s``: a freshly loaded null sink stalls its first stream
        ~1.9 s, like a fresh server). Idempotent. Streams opened before the unplug stay broken
        or recover only partly (measured: capture after an -EPIPE, playback not): reopen them.
        """
        self._check_sink(sink)
        if sink not in self._modules:
            out = self._pactl("load-module", "module-null-sink", *self._sink_args(sink).split())
            self._modules[sink] = int(out.stdout.strip())
        if sink not in self._keepers:
            self._start_keeper(sink)
            time.sleep(self.settle_s)

    def plugged(self, sink: str) -> bool:
        """Whether ``sink`` is loaded (per the rig's bookkeeping)."""
        return sink in self._modules

    # ------------------------------------------------------------ helpers

    def _check_sink(self, sink: str) -> None:
        if sink not in self.rates:
            raise ValueError(f"unknown sink {sink!r}: expected one of {sorted(self.rates)}")
        if self._server is None:
            raise PulseRigError("PulseRig.start() has not been called")

    def _streams(self, kind: str, device: str) -> list[str]:
        """Indexes of ``sink-inputs`` on sink ``device`` or ``source-outputs`` on source ``device``."""
        names = {}
        for line in self._pactl("list", "short", "sinks" if kind == "sink-inputs" else "sources").stdout.splitlines():
            index, name = (line.split("\t") + [""])[:2]
            names[index] = name
        out = []
        for line in self._pactl("list", "short", kind).stdout.splitlines():
            index, owner = (line.split("\t") + [""])[:2]
            if names.get(owner) == device:
                out.append(index)
        return out

    def _sink_args(self, sink: str) -> str:
        return f"sink_name={sink} rate={self.rates[sink]} channels=1 format=s16le"

    def _start_keeper(self, sink: str) -> None:
        argv = ["pacat", "-p", "-d", sink, "--latency-msec=10", f"--rate={self.rates[sink]}", "--channels=1"]
        argv += ["--format=s16le", f"--client-name=keeper-{sink}", "/dev/zero"]
        self._keepers[sink] = self._spawn(argv, self.directory / f"keeper-{sink}.log")

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env}
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        self._children.append(proc)
        return proc

    def _pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env}
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, env=env, timeout=10, check=False)
        if check and done.returncode != 0:
            raise PulseRigError(f"pactl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def _cli(self, commands: list[str]) -> str:
        """Run ``commands`` on the server's CLI socket (what ``pacmd`` speaks); raise on a reported error."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.directory / "cli"))
            s.sendall(("\n".join(commands) + "\n").encode())
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
        reply = b"".join(chunks).decode("utf-8", "replace")
        if "failed" in reply.lower() or "unknown command" in reply.lower():
            raise PulseRigError(f"PulseAudio CLI {commands}: {reply.strip()}")
        return reply

    def _log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``; reap. Never raises."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except OSError:
            pass


def _kill_all(children: list[subprocess.Popen[bytes]], directory: Path) -> None:
    """Terminate ``children`` in reverse start order (keepers before the server), remove ``directory``."""
    for proc in reversed(children):
        _terminate(proc)
    shutil.rmtree(directory, ignore_errors=True)
