"""The daemon's face to its operator: systemd notifications, the watchdog, the control socket.

:class:`ServiceInterface` runs beside the :class:`~edge_agent.daemon.Daemon`: it sends
``READY=1`` once the audio device is open (or after a grace period, with a status saying
what it waits for — never holding start-up hostage to the network), a ``STATUS=`` line
whenever what the daemon does changes, ``WATCHDOG=1`` only while the event loop, the audio
thread and the session supervisor are all healthy, and ``STOPPING=1`` on the way out. It
also answers ``edge-agent ctl`` on the control socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_agent import events as ev
from edge_agent.control import ControlServer, socket_path
from edge_agent.events import Phase
from edge_agent.sd_notify import Notifier, WatchdogGate

if TYPE_CHECKING:
    from edge_agent.audio_engine import AudioEngine
    from edge_agent.daemon import Daemon

_LOGGER = logging.getLogger(__name__)

READY_GRACE_S = 5.0
"""How long READY=1 waits for the audio device before reporting ready anyway (it keeps retrying)."""
AUDIO_STALL_S = 2.0
"""An audio thread that has not completed a period for this long is wedged."""


def status_line(daemon: Daemon) -> str:
    """What the daemon is doing, in a few words, for ``systemctl status`` and ``ctl status``."""
    conv = daemon.conversation
    engine = daemon.engine
    phase: str = conv.phase.value
    if engine is not None and not engine.device_ok:
        why = f": {engine.device_error}" if engine.device_error else ""
        return f"audio device unavailable: {daemon.settings.audio.capture_device} (retrying){why}"
    match conv.phase:
        case Phase.ERROR:
            return str(daemon.status)
        case Phase.RECONNECTING | Phase.CONNECTING if daemon.status.startswith("offline"):
            return daemon.status
        case Phase.STANDBY if not conv.turns_allowed:
            return "standby: daily token budget reached"
        case Phase.STANDBY if daemon.connection is not None and daemon.connection.link is None:
            return "standby (connection closed while idle)"
    if engine is not None and engine.echo.fallback_reason:
        return f"{phase} (half-duplex: echo cancellation fell back)"
    return phase


def audio_status(engine: AudioEngine) -> dict[str, Any]:
    """The ``audio`` block of ``ctl status``: device, mic level, echo handling, glitches, latency."""
    echo, device = engine.echo, engine.device
    return {
        "device": device.name,
        "device_ok": engine.device_ok,
        "device_error": engine.device_error,
        "mic_dbfs": engine.mic_dbfs,
        "mic_peak_dbfs": engine.mic_peak_dbfs,
        "echo": echo.mode,
        "echo_configured": echo.configured,
        "echo_fallback": echo.fallback_reason,
        "erle_db": echo.erle_db,
        "underruns": engine.underruns,
        "overruns": device.overruns,
        "speaker_xruns": device.underruns,
        "skipped_periods": engine.skipped_periods,
        "padded_periods": engine.padded_periods,
        "late_cycles": engine.late_cycles,
        "latency": engine.latency.summary(),
    }


class ServiceInterface:
    """Notifications, watchdog and control socket for one daemon. Thread: event loop."""

    def __init__(self, daemon: Daemon, *, notifier: Notifier | None = None, control_socket: Path | None = None) -> None:
        self.daemon = daemon
        self.notifier = notifier or Notifier()
        self.gate = WatchdogGate()
        self.gate.add("audio thread", self._audio_healthy)
        self.gate.add("session supervisor", self._session_healthy)
        self.watchdog_pings = 0
        self._control_path = control_socket if control_socket is not None else socket_path(os.environ)
        self._control: ControlServer | None = None

    async def run(self) -> None:
        """Ready, then status and watchdog until cancelled."""
        await self._control_start()
        deadline = time.monotonic() + READY_GRACE_S
        engine = self.daemon.engine
        # Polling a flag the audio thread sets; an Event would need a second bridge from that thread.
        while engine is not None and not engine.device_ok and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        self.notifier.ready(status_line(self.daemon))
        _LOGGER.info("ready: %s", status_line(self.daemon))
        interval = self.notifier.watchdog_interval_s
        tick = min(0.5, interval) if interval else 0.5
        next_ping = 0.0
        while True:
            self.notifier.status(status_line(self.daemon))
            now = time.monotonic()
            if interval and now >= next_ping:
                problems = self.gate.check()
                if problems:
                    _LOGGER.error("withholding the watchdog ping: %s", "; ".join(problems))
                else:
                    self.notifier.watchdog()
                    self.watchdog_pings += 1
                next_ping = now + interval
            await asyncio.sleep(tick)

    async def stop(self, reason: str) -> None:
        """STOPPING=1 and close the control socket. Idempotent."""
        self.notifier.stopping(f"stopping: {reason}")
        if self._control is not None:
            await self._control.close()
            self._control = None

    # -------------------------------------------------------------- health

    def _audio_healthy(self) -> str | None:
        engine = self.daemon.engine
        if engine is not None and not engine.alive:
            return "the audio thread has died"
        if engine is None or not engine.device_ok:
            return None  # a missing device is retried, not a wedge
        stalled = time.monotonic() - engine.last_cycle
        return f"audio thread stalled for {stalled:.1f} s" if stalled > AUDIO_STALL_S else None

    def _session_healthy(self) -> str | None:
        task = self.daemon.connection_task
        if task is None or not task.done():
            return None
        return "the session supervisor has stopped"

    # ------------------------------------------------------------- control

    async def _control_start(self) -> None:
        try:
            server = ControlServer(self)
            await server.start(self._control_path)
        except OSError as e:
            _LOGGER.warning("no control socket at %s: %s (edge-agent ctl will not work)", self._control_path, e)
            return
        self._control = server

    async def status(self) -> dict[str, Any]:
        """``ctl status``: phase, mute, connection, last error, token use, audio figures."""
        d = self.daemon
        conn, engine, meter = d.connection, d.engine, d.meter
        return {
            "ok": True,
            "phase": d.phase.value,
            "status": status_line(d),
            "muted": d.conversation.muted,
            "mute_switch": d.conversation.hard_muted,
            "connected": conn is not None and conn.link is not None,
            "last_error": d.conversation.last_error or (conn.last_decision.why if conn and conn.last_decision else ""),
            "tokens_today": meter.used_today,
            "token_budget": meter.budget,
            "connections": conn.connections if conn else 0,
            "rotations": conn.rotations if conn else 0,
            "audio_device_ok": bool(engine and engine.device_ok),
            "underruns": engine.underruns if engine else 0,
            "frames_sent": d.frames_sent,
            "audio": audio_status(engine) if engine else {},
        }

    async def wake(self) -> dict[str, Any]:
        """``ctl wake``: like a button tap."""
        self.daemon.post(ev.WakeRequested("ctl"))
        return {"ok": True}

    async def mute(self) -> dict[str, Any]:
        """``ctl mute``: works with no network."""
        self.daemon.post(ev.MuteRequested(True, "ctl"))
        return {"ok": True}

    async def unmute(self) -> dict[str, Any]:
        """``ctl unmute``."""
        self.daemon.post(ev.MuteRequested(False, "ctl"))
        return {"ok": True}

    async def say(self, text: str) -> dict[str, Any]:
        """``ctl say TEXT``: the text goes to the model as if the user had said it; it answers aloud."""
        if self.daemon.conversation.muted:
            return {"ok": False, "error": "muted: unmute first"}
        self.daemon.post(ev.TextRequested(text))
        return {"ok": True}

    async def outputs(self) -> dict[str, Any]:
        """``ctl outputs``: every output's real state."""
        hw = self.daemon.hardware
        return {"ok": True, "outputs": hw.outputs.snapshot() if hw is not None else {}}
