"""The daemon's bookkeeping: reply latency, tokens per turn and per day, and the daily budget.

:class:`Accounting` watches the conversation's events (it never changes them) and posts a
``BudgetChanged`` event when the budget moves. Thread: event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from edge_agent import events as ev
from edge_agent.state import StateStore
from edge_agent.usage import UsageMeter

_LOGGER = logging.getLogger("edge_agent.daemon")  # the operator follows one logger for the conversation


def today() -> str:
    """The local date, the unit of the daily token budget."""
    return time.strftime("%Y-%m-%d")


class Accounting:
    """Logs ``LATENCY_MS`` and ``TOKENS``/``TURN`` journal fields; keeps today's use in ``store``."""

    def __init__(self, budget: int, store: StateStore, post: Callable[[ev.Event], None]) -> None:
        self.meter = UsageMeter(budget, today())
        self.store = store
        self.post = post
        self._heard_at: float | None = None

    def restore(self) -> None:
        """Load today's use from the state directory; announce an exhausted budget at once."""
        usage = self.store.load("usage") or {}
        if usage.get("day") == self.meter.day:
            self.meter.used_today = int(usage.get("tokens", 0))
        if not (self.meter.camera_allowed and self.meter.turns_allowed):
            self.post(ev.BudgetChanged(self.meter.camera_allowed, self.meter.turns_allowed))

    def observe(self, event: ev.Event) -> None:
        """Look at one event before the conversation gets it."""
        match event:
            case ev.InputTranscribed(finished=True) | ev.TalkReleased() | ev.TextRequested():
                self._heard_at = time.monotonic()
            case ev.ModelAudioReceived() if self._heard_at is not None:
                latency = round((time.monotonic() - self._heard_at) * 1000)
                self._heard_at = None
                _LOGGER.info("first reply audio %d ms after the user finished", latency, extra={"LATENCY_MS": latency})
            case ev.TurnCompleted():
                self._heard_at = None  # a transcript that came after the reply must not time the next one
                self._count_turn()

    def _count_turn(self) -> None:
        meter = self.meter
        before = (meter.camera_allowed, meter.turns_allowed)
        used = meter.end_turn(today())
        if used is None:
            return
        _LOGGER.info(
            "turn %d used %d tokens; %d today%s",
            used.turn,
            used.tokens,
            used.day_total,
            f" of {meter.budget}" if meter.budget else "",
            extra={"TURN": used.turn, "TOKENS": used.tokens, "TOKENS_TODAY": used.day_total},
        )
        self.store.save("usage", {"day": meter.day, "tokens": meter.used_today})
        if before != (meter.camera_allowed, meter.turns_allowed):
            if not meter.turns_allowed:
                _LOGGER.warning("daily token budget of %d reached: new turns are refused until tomorrow", meter.budget)
            elif not meter.camera_allowed:
                _LOGGER.warning("90 %% of the daily token budget used: camera frames stop")
            self.post(ev.BudgetChanged(meter.camera_allowed, meter.turns_allowed))

    async def run_days(self) -> None:
        """Forever: at midnight the budget starts again."""
        while True:
            await asyncio.sleep(60)
            if self.meter.roll(today()):
                self.post(ev.BudgetChanged(self.meter.camera_allowed, self.meter.turns_allowed))
