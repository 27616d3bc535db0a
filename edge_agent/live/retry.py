"""What to do after a Live connection ends: one pure function, plus a backoff schedule.

The close-code facts (``live-protocol.md`` §7) change with model generations, so they
live in one small table here, tested on its own. Nothing in this module does I/O.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass


class Action(enum.Enum):
    """How to reconnect after a connection ended."""

    RESUME = "resume"
    """Reconnect with backoff, presenting the newest resumption handle (rotation, network blip, 1011)."""
    FRESH = "fresh"
    """Reconnect with backoff as a new session: the old context cannot be resumed."""
    NEEDS_PERSON = "needs_person"
    """Nothing a retry can fix soon (bad key, unknown model, quota): retry slowly and say what to fix."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one close: what to do, and a sentence for the journal and status."""

    action: Action
    why: str
    hint: str = ""
    """For NEEDS_PERSON: exactly what the operator should fix."""


_KEY_HINT = (
    "check the API key: the systemd credential gemini-api-key, the file named by live.api_key_file, or $GEMINI_API_KEY"
)


def classify(code: int | None, reason: str) -> Decision:
    """Map a close code and reason (``None``: no close frame / no connection) to a :class:`Decision`."""
    text = reason.lower()
    if code == 1007:
        if "api key" in text:
            return Decision(Action.NEEDS_PERSON, "auth error: the API key was refused", _KEY_HINT)
        if "location is not supported" in text:
            return Decision(Action.NEEDS_PERSON, "the Live API is not available in this region", "use another region")
        # Invalid argument / context exhausted: the same context fails again.
        return Decision(Action.FRESH, f"the server refused the session ({reason or 'invalid data'})")
    if code == 1008:
        if "goaway" in text.replace(" ", ""):
            return Decision(Action.RESUME, "the connection outlived its GoAway deadline")
        if (
            "unregistered callers" in text
            or "api key" in text
            or "denied access" in text
            or "has not been used" in text
        ):
            return Decision(Action.NEEDS_PERSON, "auth error: no usable credential", _KEY_HINT)
        if "not found" in text or "not supported" in text:
            return Decision(
                Action.NEEDS_PERSON,
                f"the model is not available ({reason})",
                "set live.model to a current Live model",
            )
        return Decision(Action.FRESH, f"the server ended the session by policy ({reason or 'no reason'})")
    if code == 1011 and ("quota" in text or "billing" in text):
        return Decision(Action.NEEDS_PERSON, "quota exhausted", "check the plan and billing of the API key's project")
    if code == 1011:
        return Decision(Action.RESUME, f"server error ({reason or 'internal error'})")
    if code in (1000, 1001):
        return Decision(Action.RESUME, "the server closed the connection")
    if code == 1006:
        return Decision(Action.RESUME, "the connection dropped")
    if code is None and ("api key" in text or "refused this device" in text):
        return Decision(Action.NEEDS_PERSON, f"auth error: {reason}", _KEY_HINT)
    if code is None:
        return Decision(Action.RESUME, f"offline: {reason}" if reason else "offline")
    return Decision(Action.RESUME, f"closed with {code} {reason}".strip())


class Backoff:
    """Exponential delays with full jitter (first, 2×first, … up to cap), reset by a stable connection.

    Pure apart from the injected ``rand`` (default ``random.random``). Not thread-safe.
    """

    def __init__(self, first: float = 1.0, cap: float = 60.0, rand: object = None) -> None:
        self.first = first
        self.cap = cap
        self.attempt = 0
        self._rand = rand if callable(rand) else random.random

    def next(self) -> float:
        """The delay before the next attempt; each call moves one step up the schedule."""
        base = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        return float(base / 2 + self._rand() * base / 2)

    def reset(self) -> None:
        """Start again from ``first`` (after a connection that stayed up)."""
        self.attempt = 0
