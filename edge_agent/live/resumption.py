"""Resumption handles and GoAway deadlines: pure bookkeeping for rotating connections.

The server sends ``sessionResumptionUpdate`` with a new handle (or ``resumable: false``
while it runs tools or generates); a handle stays valid for 2 hours after the session's
last connection ends. ``goAway`` announces the end of a connection: rotate before
``timeLeft`` runs out, preferably while nothing is in flight, always before the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

HANDLE_VALIDITY_S = 2 * 3600.0
"""How long a handle can be resumed after the last connection ended (documented: 2 h)."""
VALIDITY_MARGIN_S = 300.0
"""Do not present a handle in its last minutes: a refused resume costs a round trip."""


@dataclass(frozen=True, slots=True)
class Handle:
    """A resumable handle and the wall-clock time (Unix seconds) it was last known good."""

    value: str
    seen_at: float

    def usable(self, now: float) -> bool:
        """Whether resuming with it should still work at ``now`` (Unix seconds)."""
        return now - self.seen_at < HANDLE_VALIDITY_S - VALIDITY_MARGIN_S


class Resumption:
    """Tracks the newest handle and whether the session is resumable right now. Not thread-safe."""

    def __init__(self, handle: Handle | None = None) -> None:
        self.handle = handle
        self.resumable = handle is not None

    def update(self, new_handle: str | None, resumable: bool, now: float) -> bool:
        """Apply a ``sessionResumptionUpdate``; returns True when the stored handle changed."""
        self.resumable = bool(resumable and new_handle)
        if self.resumable and new_handle and (self.handle is None or self.handle.value != new_handle):
            self.handle = Handle(new_handle, now)
            return True
        return False

    def touch(self, now: float) -> None:
        """The connection using the handle is still alive at ``now``: it stays valid from here."""
        if self.handle is not None:
            self.handle = Handle(self.handle.value, now)

    def handle_for_connect(self, now: float) -> str | None:
        """The handle to present on the next connection, or None for a fresh session."""
        if self.handle is not None and self.handle.usable(now):
            return self.handle.value
        self.forget()  # expired: never bring it back (touch() would make it look fresh)
        return None

    def forget(self) -> None:
        """Drop the handle (the server refused the context; start fresh)."""
        self.handle = None
        self.resumable = False


@dataclass(frozen=True, slots=True)
class GoAwayPlan:
    """When to rotate after a ``goAway`` received at ``received`` (monotonic s) with ``time_left_s``."""

    received: float
    time_left_s: float

    @property
    def deadline(self) -> float:
        """Monotonic time at which the server will cut the connection."""
        return self.received + self.time_left_s

    @property
    def latest(self) -> float:
        """Rotate by then whatever is in flight: a margin of a quarter of the notice, 0.2 s to 5 s."""
        return self.deadline - min(5.0, max(0.2, self.time_left_s / 4))

    def should_rotate(self, now: float, *, busy: bool, resumable: bool) -> bool:
        """Rotate now? Yes when idle with a fresh resumable handle, or when the margin is reached."""
        return (not busy and resumable) or now >= self.latest
