"""The close-code table and the backoff schedule, and resumption bookkeeping (pure)."""

from __future__ import annotations

import pytest

from edge_agent.live.resumption import HANDLE_VALIDITY_S, GoAwayPlan, Handle, Resumption
from edge_agent.live.retry import Action, Backoff, classify


@pytest.mark.parametrize(
    ("code", "reason", "action"),
    [
        (1007, "API key not valid. Please pass a valid API key.", Action.NEEDS_PERSON),
        (1007, "API key expired. Please renew the API key.", Action.NEEDS_PERSON),
        (1007, "Request contains an invalid argument.", Action.FRESH),
        (
            1008,
            "Method doesn't allow unregistered callers (callers without established identity).",
            Action.NEEDS_PERSON,
        ),
        (
            1008,
            "models/x is not found for API version v1beta, or is not supported for bidiGenerateContent",
            Action.NEEDS_PERSON,
        ),
        (
            1008,
            "Connection aborted because the client failed to close the connection after receiving a GoAway",
            Action.RESUME,
        ),
        (1011, "Internal error occurred.", Action.RESUME),
        (1011, "You exceeded your current quota, please check your plan and billing details.", Action.NEEDS_PERSON),
        (1006, "abnormal closure", Action.RESUME),
        (1000, "", Action.RESUME),
        (None, "OSError: [Errno 111] Connection refused", Action.RESUME),
    ],
)
def test_classify(code: int | None, reason: str, action: Action) -> None:
    decision = classify(code, reason)
    assert decision.action is action
    if action is Action.NEEDS_PERSON:
        assert decision.hint  # the journal says exactly what to fix


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    low, high = Backoff(1.0, 8.0, rand=lambda: 0.0), Backoff(1.0, 8.0, rand=lambda: 1.0)
    assert [low.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [high.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low.reset()
    assert low.next() == 0.5


def test_resumption_keeps_the_newest_resumable_handle() -> None:
    r = Resumption()
    assert r.handle_for_connect(1000.0) is None
    assert r.update("h1", True, 1000.0)
    assert not r.update(None, False, 1001.0)  # mid tool call: not resumable now, handle kept
    assert not r.resumable and r.handle == Handle("h1", 1000.0)
    assert r.update("h2", True, 1002.0)
    assert r.handle_for_connect(1003.0) == "h2"
    assert r.handle_for_connect(1002.0 + HANDLE_VALIDITY_S) is None  # expired, and forgotten:
    r.touch(1003.0)  # a later touch cannot bring it back
    assert r.handle_for_connect(1003.0) is None
    r.update("h3", True, 1004.0)
    r.forget()
    assert r.handle_for_connect(1003.0) is None


def test_goaway_rotates_when_idle_or_at_the_margin() -> None:
    plan = GoAwayPlan(received=100.0, time_left_s=2.0)
    assert plan.should_rotate(100.1, busy=False, resumable=True)
    assert not plan.should_rotate(100.1, busy=True, resumable=True)
    assert not plan.should_rotate(100.1, busy=False, resumable=False)
    assert plan.latest == pytest.approx(101.5)
    assert plan.should_rotate(101.5, busy=True, resumable=False)  # never past the deadline
