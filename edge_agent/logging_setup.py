"""Logging for a daemon: every line carries the conversation phase.

Started by systemd (``$JOURNAL_STREAM`` names our stderr, or ``$INVOCATION_ID``), records
go to journald through systemd-python's handler with structured fields (``PHASE``,
``EDGE_AGENT_EVENT``, ``TURN``, ``TOKENS``, ``CLOSE_CODE`` …, see :mod:`edge_agent.journal`)
and no timestamp in the message; on a terminal they go to stderr with a timestamp.
Repetitive warnings (xruns, retries) are rate-limited either way.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from edge_agent.journal import RateLimit, journal_handler, journal_wanted

_state = {"phase": "starting"}


def set_phase(phase: str) -> None:
    """Set the phase shown in every following log line. Thread: any."""
    _state["phase"] = phase


def current_phase() -> str:
    """The phase last set with :func:`set_phase`."""
    return _state["phase"]


class _Context(logging.Filter):
    """Adds the ``phase`` attribute to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.phase = _state["phase"]
        return True


def setup_logging(*, verbose: bool = False, stream: TextIO | None = None) -> None:
    """Configure the ``edge_agent`` logger once for a command. Idempotent."""
    handler: logging.Handler
    if stream is None and journal_wanted(os.environ):
        handler = journal_handler(phase=current_phase)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        fmt = "%(asctime)s %(levelname)-7s [%(phase)s] %(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
        handler.addFilter(_Context())
    handler.addFilter(RateLimit())
    root = logging.getLogger("edge_agent")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    # Library chatter stays out of the journal unless something is wrong.
    for name in ("websockets", "google_genai", "httpx", "gpiozero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # asyncio warns "socket.send() raised exception" for every write racing a dropped connection;
    # the daemon reports the drop itself. Its errors (a task that died) still come through.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
