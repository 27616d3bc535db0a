"""Tell systemd how the daemon is doing: readiness, status text, watchdog pings, stopping.

A thin wrapper over :func:`systemd.daemon.notify` (systemd-python, i.e. libsystemd's
``sd_notify(3)``), which sends one datagram to ``$NOTIFY_SOCKET``. With ``Type=notify`` and
``WatchdogSec=`` in the unit the daemon calls, in order::

    notifier = Notifier()
    notifier.ready("standby")                 # after devices are open: READY=1 + STATUS
    notifier.status("listening")              # on every phase change (sent only if changed)
    if not gate.check():                      # every notifier.watchdog_interval_s seconds
        notifier.watchdog()                   # WATCHDOG=1, only while every health check passes
    notifier.stopping("stopping: SIGTERM")    # first thing on shutdown: STOPPING=1 + STATUS

Nothing here ever raises or stops the daemon. ``notify`` raises ``ConnectionRefusedError``
(nobody listens), ``FileNotFoundError`` (missing path) or ``OSError`` (relative or empty
``$NOTIFY_SOCKET``); the first failure is logged at WARNING, later ones at DEBUG, and the
call returns ``False``. Without ``$NOTIFY_SOCKET`` (not started by systemd) every call is a
cheap no-op returning ``False``.

:class:`WatchdogGate` is pure: it holds named health checks and says which fail, so the
daemon withholds ``WATCHDOG=1`` while, for example, the audio thread is stuck and systemd
restarts it. :class:`Heartbeat` is a ready-made check for "this thread still makes progress".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import systemd.daemon as _sd_daemon

_LOGGER = logging.getLogger(__name__)

NotifyFunction = Callable[[str], bool]
"""Sends one notification (``"KEY=VALUE\\n..."``); True when delivered, False without a socket."""

HealthCheck = Callable[[], str | None]
"""Returns None when healthy, else a short reason such as ``"audio thread stalled for 3.2 s"``."""


def _clean(text: str) -> str:
    """Make ``text`` safe as one assignment's value: a newline would start another (``READY=1``)."""
    return " ".join(text.replace("\0", " ").splitlines()).strip()


class Notifier:
    """The daemon's side of ``sd_notify``: never raises, never blocks in practice.

    Thread: any (state is guarded by a lock), though the daemon calls it from the event loop.
    Each call does at most one non-blocking-in-practice ``sendmsg()`` on a datagram socket.

    ``notify`` defaults to :func:`systemd.daemon.notify`, which reads ``$NOTIFY_SOCKET`` on every
    call; tests may inject a recording function instead.
    """

    def __init__(self, notify: NotifyFunction | None = None) -> None:
        self._notify: NotifyFunction = notify if notify is not None else _sd_daemon.notify
        self._lock = threading.Lock()
        self._last_status: str | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when ``$NOTIFY_SOCKET`` is set, i.e. systemd (``Type=notify``) is listening."""
        return bool(os.environ.get("NOTIFY_SOCKET"))

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half of ``$WATCHDOG_USEC``, in seconds.

        None when there is no watchdog: ``$WATCHDOG_USEC`` unset, not a positive integer, or
        ``$WATCHDOG_PID`` set to another process's pid (the watchdog is not ours to feed).
        Reads the environment on every call.
        """
        usec = os.environ.get("WATCHDOG_USEC")
        if not usec:
            return None
        pid = os.environ.get("WATCHDOG_PID")
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                _LOGGER.debug("ignoring watchdog: WATCHDOG_PID=%r is not a pid", pid)
                return None
        try:
            value = int(usec)
        except ValueError:
            _LOGGER.debug("ignoring watchdog: WATCHDOG_USEC=%r is not an integer", usec)
            return None
        if value <= 0:
            return None
        return value / 2 / 1_000_000

    def ready(self, status: str) -> bool:
        """Send ``READY=1`` with ``STATUS=status``: start-up is complete.

        Call once, after the devices are open. Returns True when delivered. Never raises.
        """
        return self._send_with_status("READY=1", status)

    def status(self, text: str) -> bool:
        """Send ``STATUS=text`` if it differs from the last status delivered; else do nothing.

        Returns True when sent (or already current). Never raises. Idempotent for the same text.
        """
        text = _clean(text)
        with self._lock:
            if text == self._last_status:
                return True
            return self._send_locked(f"STATUS={text}", status=text)

    def watchdog(self) -> bool:
        """Send ``WATCHDOG=1`` (the service is alive). Returns True when delivered. Never raises.

        Call every :attr:`watchdog_interval_s` seconds while :meth:`WatchdogGate.check` passes.
        """
        with self._lock:
            return self._send_locked("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> bool:
        """Send ``STOPPING=1`` with ``STATUS=status``: shutdown has begun.

        Call once at the start of a clean shutdown. Returns True when delivered. Never raises.
        """
        return self._send_with_status("STOPPING=1", status)

    def _send_with_status(self, assignment: str, status: str) -> bool:
        text = _clean(status)
        with self._lock:
            return self._send_locked(f"{assignment}\nSTATUS={text}", status=text)

    def _send_locked(self, message: str, *, status: str | None = None) -> bool:
        """Send ``message``; remember ``status`` only once delivered. Caller holds the lock."""
        try:
            delivered = bool(self._notify(message))
        except Exception as error:  # noqa: BLE001 - OSError per the doc; anything else must not stop the daemon either
            socket_name = os.environ.get("NOTIFY_SOCKET", "")
            if self._warned:
                _LOGGER.debug("sd_notify to %r failed again: %r", socket_name, error)
            else:
                self._warned = True
                _LOGGER.warning(
                    "sd_notify to NOTIFY_SOCKET=%r failed (%s: %s); carrying on without systemd notifications",
                    socket_name,
                    type(error).__name__,
                    error,
                )
            return False
        if delivered and status is not None:
            self._last_status = status
        return delivered


class WatchdogGate:
    """Named health checks deciding whether the daemon may send ``WATCHDOG=1``.

    Pure and synchronous: :meth:`check` only calls the checks. A check that raises counts as
    failing (its exception names the reason), so a broken check never pings by accident.

    Thread: the event loop (not thread-safe to :meth:`add`/:meth:`remove` concurrently with
    :meth:`check`); the checks themselves may read state other threads write.
    """

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}

    def add(self, name: str, check: HealthCheck) -> None:
        """Register ``check`` under ``name``, replacing any check of that name."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        """Forget the check ``name``. Idempotent: an unknown name is ignored."""
        self._checks.pop(name, None)

    @property
    def names(self) -> list[str]:
        """The registered check names, in the order they were added."""
        return list(self._checks)

    def check(self) -> list[str]:
        """Run every check; return ``"name: reason"`` for each failing one (empty: all healthy).

        Never raises. Send ``WATCHDOG=1`` only when this returns an empty list.
        """
        failures: list[str] = []
        for name, check in self._checks.items():
            try:
                reason = check()
            except Exception as error:  # noqa: BLE001 - a broken check must withhold the ping, not crash
                reason = f"check raised {type(error).__name__}: {error}"
            if reason is not None:
                failures.append(f"{name}: {reason}")
        return failures


class Heartbeat:
    """A health check that fails when :meth:`beat` was not called for ``limit_s`` seconds.

    The watched thread calls :meth:`beat` on every iteration (e.g. each ALSA period); the gate
    calls the instance. Reports ``"<what> stalled for 3.2 s"``.

    Thread: :meth:`beat` from any thread (a single float store, atomic under the GIL, never
    blocks); calling the instance from the event loop. The clock is injectable for tests.
    """

    def __init__(self, what: str, limit_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.limit_s = limit_s
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        """Record progress now. Thread: any. Never blocks."""
        self._last = self._clock()

    def __call__(self) -> str | None:
        """None while beats are recent; else how long the watched thread has been silent."""
        silent = self._clock() - self._last
        if silent > self.limit_s:
            return f"{self.what} stalled for {silent:.1f} s"
        return None
