"""Logging to journald with structured fields, and a rate limiter for repetitive warnings.

Under systemd the daemon logs through systemd-python's :class:`systemd.journal.JournalHandler`
(``SYSLOG_IDENTIFIER=edge-agent``), built by :func:`journal_handler`; elsewhere the stderr
handler of :mod:`edge_agent.logging_setup` stays in charge. :func:`journal_wanted` says which.

How a record becomes a journal entry (systemd-python 235, ``JournalHandler.emit``, checked
against its source and against a real systemd-journald 252):

* ``MESSAGE`` is ``handler.format(record)``; here :data:`MESSAGE_FORMAT`, so no timestamp
  (journald stamps each entry itself). A traceback is appended to it and also sent as
  ``EXCEPTION_TEXT``.
* ``PRIORITY`` follows the level (DEBUG 7, INFO 6, WARNING 4, ERROR 3, CRITICAL 2);
  ``LOGGER``, ``THREAD_NAME``, ``PROCESS_NAME``, ``CODE_FILE``/``CODE_LINE``/``CODE_FUNC``
  are added; ``CODE_ARGS`` holds ``str(record.args)`` when there are arguments.
* **Every** attribute of the record (``record.__dict__``, so every ``extra=`` key) is passed
  to ``journal.send`` as ``KEY=str(value)``. journald keeps only valid field names (ASCII
  upper case, digits and ``_``, not starting with ``_``) and silently drops the rest, so the
  record's own lower-case attributes (``msg``, ``args``, ``levelname``, …) and lower-case
  extras vanish while UPPER-CASE extras become fields: ``extra={"TURN": 3}`` → ``TURN=3``.
* An extra named like one of the handler's own arguments (``MESSAGE``, ``PRIORITY``,
  ``LOGGER``, ``THREAD_NAME``, ``PROCESS_NAME``, ``CODE_FILE``, ``CODE_LINE``, ``CODE_FUNC``)
  would make ``emit`` fail with a TypeError; :class:`JournalFields` renames such an extra
  to ``EXTRA_<NAME>``.

:class:`JournalFields` adds ``PHASE`` and ``EDGE_AGENT_EVENT`` to every record and tidies
the project's field vocabulary (:data:`FIELDS`). :class:`RateLimit` collapses a flood of the
same warning (``"xrun %d"``) into one line per window plus a count.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import systemd.journal as _sd_journal

SYSLOG_IDENTIFIER = "edge-agent"
"""The journal's ``SYSLOG_IDENTIFIER`` (``journalctl -t edge-agent``)."""

MESSAGE_FORMAT = "[%(PHASE)s] %(name)s: %(message)s"
"""``MESSAGE`` as on stderr under systemd, minus level (that is ``PRIORITY``) and timestamp."""

FIELDS = ("TURN", "LATENCY_MS", "TOKENS", "TOOL", "DEVICE", "CLOSE_CODE")
"""Extras the code base uses as journal fields, e.g. ``extra={"LATENCY_MS": 412}``."""

_HANDLER_ARGUMENTS = frozenset(
    {"MESSAGE", "PRIORITY", "LOGGER", "THREAD_NAME", "PROCESS_NAME", "CODE_FILE", "CODE_LINE", "CODE_FUNC"}
)
"""Keyword arguments ``JournalHandler.emit`` passes itself; an extra of the same name breaks it."""

JournalSender = Callable[..., object]
"""``journal.send``'s shape: ``send(MESSAGE, **fields)``; tests pass a recording function."""


def journal_wanted(environ: Mapping[str, str] | None = None, *, fds: Iterable[int] = (1, 2)) -> bool:
    """True when the process runs under systemd and should log through :func:`journal_handler`.

    ``$JOURNAL_STREAM`` (``"DEVICE:INODE"``) counts only when it names our stdout or stderr, as
    ``systemd.exec(5)`` advises: a shell started from a service inherits the variable while its
    output goes to a terminal. Without it, ``$INVOCATION_ID`` (set for every unit) counts.
    Thread: any. Never raises.
    """
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM")
    if stream:
        device, _, inode = stream.partition(":")
        for fd in fds:
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if f"{st.st_dev}:{st.st_ino}" == f"{device}:{inode}":
                return True
        return False
    return bool(env.get("INVOCATION_ID"))


class JournalFields(logging.Filter):
    """Adds the structured fields to every record; never rejects one.

    * ``PHASE``: ``phase()``, the conversation phase (``"unknown"`` if it raises).
    * ``EDGE_AGENT_EVENT``: the record's ``event`` extra if given (``extra={"event": "xrun"}``),
      else the last part of the logger name (``edge_agent.hardware.gpio`` → ``gpio``).
    * :data:`FIELDS` extras pass through unchanged; one set to None is removed rather than
      logged as ``"None"``.
    * An extra that collides with the handler's own arguments becomes ``EXTRA_<NAME>``.

    Attach it to the journal handler (:func:`journal_handler` does). Thread: any; ``phase``
    must be safe to call from any thread that logs. Idempotent: running twice on a record
    gives the same fields.
    """

    def __init__(self, phase: Callable[[], str]) -> None:
        super().__init__()
        self._phase = phase

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields to ``record`` in place; always True."""
        fields = record.__dict__
        try:
            fields["PHASE"] = str(self._phase())
        except Exception:  # noqa: BLE001 - a failing phase source must not lose the log line
            fields["PHASE"] = "unknown"
        event = fields.get("event")
        fields["EDGE_AGENT_EVENT"] = str(event) if event else record.name.rpartition(".")[2]
        for name in FIELDS:
            if name in fields and fields[name] is None:
                del fields[name]
        for name in _HANDLER_ARGUMENTS & fields.keys():
            fields[f"EXTRA_{name}"] = fields.pop(name)
        return True


def journal_handler(
    sender: JournalSender | None = None,
    *,
    phase: Callable[[], str] | None = None,
    identifier: str = SYSLOG_IDENTIFIER,
) -> logging.Handler:
    """A ``JournalHandler`` with :data:`MESSAGE_FORMAT` and a :class:`JournalFields` filter.

    ``sender`` replaces ``systemd.journal.send`` (its ``sender_function``); tests pass a
    recording function. ``phase`` returns the current conversation phase (default: always
    ``"unknown"``). Add a :class:`RateLimit` to the handler as well to tame floods.

    Thread: any (logging handlers are thread-safe). Each record is one ``sendmsg()`` to
    ``/run/systemd/journal/socket``; without journald it is silently dropped.
    """
    kwargs: dict[str, object] = {"SYSLOG_IDENTIFIER": identifier}
    if sender is not None:
        kwargs["sender_function"] = sender
    handler: logging.Handler = _sd_journal.JournalHandler(**kwargs)
    handler.setFormatter(logging.Formatter(MESSAGE_FORMAT))
    handler.addFilter(JournalFields(phase if phase is not None else _unknown_phase))
    return handler


def _unknown_phase() -> str:
    return "unknown"


@dataclass
class _Window:
    """One (logger, template) key's current window."""

    start: float
    passed: int = 0
    suppressed: int = 0


class RateLimit(logging.Filter):
    """Lets ``burst`` records per (logger, message template) through every ``window_s`` seconds.

    Keyed by ``record.msg``, the template, so ``"xrun %d"`` with 1, 2, 3 … is one key. Within a
    window the first ``burst`` records pass and the rest are dropped and counted; the first
    record after the window has ``" (N similar suppressed)"`` appended and opens a new window.
    (A count is reported only when another such record comes; a flood that simply stops is
    not reported again.) Records below ``min_level`` (default WARNING, so transcripts at INFO
    are never touched) always pass.

    Attach it to handlers (a logger's filters do not see records propagated from child
    loggers). One instance may sit on several handlers: a record gets the same decision each
    time it is seen. At most ``max_keys`` keys are remembered; expired windows are forgotten
    first.

    Thread: any (the ALSA thread logs xruns); state is guarded by a lock and the filter never
    blocks beyond it. ``clock`` is injectable for deterministic tests.
    """

    def __init__(
        self,
        *,
        burst: int = 1,
        window_s: float = 10.0,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        if burst < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("RateLimit needs burst >= 1, window_s > 0 and max_keys >= 1")
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self.min_level = min_level
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._decided: weakref.WeakKeyDictionary[logging.LogRecord, bool] = weakref.WeakKeyDictionary()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit ``record`` (possibly with the suppressed count appended), False to drop it."""
        if record.levelno < self.min_level:
            return True
        with self._lock:
            decided = self._decided.get(record)
            if decided is not None:
                return decided
            decision = self._decide(record)
            self._decided[record] = decision
            return decision

    def _decide(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        template = record.msg if isinstance(record.msg, str) else str(record.msg)
        key = (record.name, template)
        window = self._windows.get(key)
        if window is None or now - window.start >= self.window_s:
            suppressed = window.suppressed if window is not None else 0
            if window is None and len(self._windows) >= self._max_keys:
                self._prune(now)
            window = self._windows[key] = _Window(start=now)
            if suppressed:
                record.msg = f"{template} ({suppressed} similar suppressed)"
        if window.passed < self.burst:
            window.passed += 1
            return True
        window.suppressed += 1
        return False

    def _prune(self, now: float) -> None:
        """Forget expired windows; if still full, the oldest ones. Caller holds the lock."""
        for key in [k for k, w in self._windows.items() if now - w.start >= self.window_s]:
            del self._windows[key]
        while len(self._windows) >= self._max_keys:
            oldest = min(self._windows, key=lambda k: self._windows[k].start)
            del self._windows[oldest]
