"""Token use per turn and per day, and the daily budget. Pure: the caller passes the date.

``usageMetadata`` can arrive several times in one turn, repeating cumulative totals,
so a turn counts the largest total seen, once, when the turn ends.
"""

from __future__ import annotations

from dataclasses import dataclass

CAMERA_FRACTION = 0.9
"""Share of the daily budget after which camera frames stop (video is the expensive part)."""


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """What one finished turn cost, and the day's total after it."""

    turn: int
    tokens: int
    day_total: int


class UsageMeter:
    """Counts tokens per turn and per day against ``budget`` (0 = unlimited). Not thread-safe."""

    def __init__(self, budget: int, day: str, used_today: int = 0) -> None:
        self.budget = budget
        self.day = day
        self.used_today = used_today
        self.turns = 0
        self._turn_max = 0

    def report(self, total_tokens: int) -> None:
        """A ``usageMetadata.totalTokenCount`` seen during the current turn."""
        self._turn_max = max(self._turn_max, total_tokens)

    def end_turn(self, day: str) -> TurnUsage | None:
        """Close the turn: add its tokens to ``day`` (resetting at a new day). None if it reported nothing."""
        self.roll(day)
        tokens, self._turn_max = self._turn_max, 0
        if tokens == 0:
            return None
        self.turns += 1
        self.used_today += tokens
        return TurnUsage(self.turns, tokens, self.used_today)

    def roll(self, day: str) -> bool:
        """Start a new day's count if ``day`` changed; returns True when it did."""
        if day != self.day:
            self.day, self.used_today = day, 0
            return True
        return False

    @property
    def camera_allowed(self) -> bool:
        """False once CAMERA_FRACTION of the budget is used."""
        return self.budget == 0 or self.used_today < self.budget * CAMERA_FRACTION

    @property
    def turns_allowed(self) -> bool:
        """False once the budget is used up (until the next day)."""
        return self.budget == 0 or self.used_today < self.budget
