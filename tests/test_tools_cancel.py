"""toolCallCancellation: ToolBox.cancel undoes what a withdrawn call changed, if it still holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.events import ToolCall
from edge_agent.hardware.gpio import Outputs
from edge_agent.settings import OutputSettings
from edge_agent.tools import ToolBox
from tests.test_tools_outputs import FakeTime, fake_time

__all__ = ["fake_time"]  # a fixture, used by name

Out = OutputSettings
CONFIG = (
    Out(name="lamp", kind="led", pin=17),
    Out(name="dim", kind="pwm_led", pin=12),
    Out(name="mood", kind="rgb_led", pins=(5, 6, 13)),
    Out(name="heater", kind="relay", pin=22, interlock="climate", max_on_s=60),
    Out(name="cooler", kind="relay", pin=23, interlock="climate"),
    Out(name="pump", kind="relay", pin=24, min_interval_s=30),
    Out(name="chime", kind="buzzer", pin=26),
)
PINS = (17, 12, 5, 6, 13, 22, 23, 24, 26)


@pytest.fixture
def outputs(factory: MockFactory, fake_time: FakeTime) -> Iterator[Outputs]:
    o = Outputs(CONFIG, pin_factory=factory, schedule=fake_time.schedule, clock=fake_time.clock)
    yield o
    o.close()


@pytest.fixture
def tools(outputs: Outputs) -> ToolBox:
    return ToolBox(outputs)


def run(tools: ToolBox, call_id: str, function: str, /, **args: Any) -> dict[str, Any]:
    return dict(tools.call(ToolCall(call_id, function, args)).response)


def history(factory: MockFactory, pins: tuple[int, ...] = PINS) -> dict[int, list[float]]:
    return {pin: [s.state for s in factory.pin(pin).states] for pin in pins}


def test_cancel_switches_back_what_the_call_switched(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "set_output", name="lamp", on=True)
    assert tools.cancel(["c1"]) == ["cancelled call c1 (set_output): lamp back to off"]
    assert history(factory, (17,)) == {17: [0, 1.0, 0.0]}


def test_several_calls_are_undone_newest_first(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "set_brightness", name="dim", percent=40)
    run(tools, "c2", "set_brightness", name="dim", percent=70)
    run(tools, "c3", "set_color", name="mood", color="blue")
    assert tools.cancel(["c1", "c3", "c2"]) == [
        "cancelled call c3 (set_color): mood back to off",
        "cancelled call c2 (set_brightness): dim back to on at 40 %",
        "cancelled call c1 (set_brightness): dim back to off",
    ]
    assert history(factory, (12, 5, 6, 13)) == {12: [0, 0.4, 0.7, 0.4, 0.0], 5: [0], 6: [0], 13: [0, 1.0, 0.0]}


def test_what_changed_since_the_call_is_left_alone(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "set_color", name="mood", color="red")
    run(tools, "c2", "set_brightness", name="mood", percent=30)  # not withdrawn
    before = history(factory)
    assert tools.cancel(["c1"]) == [
        "cancelled call c1 (set_color): left mood as it is: it changed since the call",
    ]
    assert history(factory) == before


def test_an_auto_off_since_the_call_is_left_alone(tools: ToolBox, factory: MockFactory, fake_time: FakeTime) -> None:
    run(tools, "c1", "set_output", name="heater", on=True)
    fake_time.advance(60)
    assert tools.cancel(["c1"]) == ["cancelled call c1 (set_output): left heater as it is: it changed since the call"]
    assert history(factory, (22,)) == {22: [0, 1.0, 0.0]}


def test_calls_that_changed_nothing_or_never_ran(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "get_outputs")
    run(tools, "c2", "set_output", name="lamp", on=False)  # already off
    run(tools, "c3", "set_output", name="garage", on=True)  # refused
    assert tools.cancel(["c1", "c2", "c3", "c4"]) == [
        "cancelled call c3: nothing to undo (not a call that ran, or older than the last 64 calls)",
        "cancelled call c4: nothing to undo (not a call that ran, or older than the last 64 calls)",
        "cancelled call c2 (set_output): it changed nothing",
        "cancelled call c1 (get_outputs): it changed nothing",
    ]
    assert history(factory, (17,)) == {17: [0]}


def test_a_call_is_undone_once(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "set_output", name="lamp", on=True)
    tools.cancel(["c1"])
    run(tools, "c2", "set_output", name="lamp", on=True)
    assert tools.cancel(["c1"]) == [
        "cancelled call c1: nothing to undo (not a call that ran, or older than the last 64 calls)"
    ]
    assert history(factory, (17,)) == {17: [0, 1.0, 0.0, 1.0]}


def test_an_undo_the_interlock_forbids_is_refused_and_said(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "set_output", name="heater", on=True)
    run(tools, "c2", "set_output", name="heater", on=False)
    run(tools, "c3", "set_output", name="cooler", on=True)
    assert tools.cancel(["c2"]) == [
        "cancelled call c2 (set_output): could not put heater back to on: heater and cooler are interlocked "
        "(group 'climate') and are never on together: cooler is on; switch cooler off first"
    ]
    assert history(factory, (22, 23)) == {22: [0, 1.0, 0.0], 23: [0, 1.0]}


def test_undo_may_always_return_to_the_safe_state_but_not_leave_it_too_soon(
    tools: ToolBox, factory: MockFactory, fake_time: FakeTime
) -> None:
    run(tools, "c1", "set_output", name="pump", on=True)
    assert tools.cancel(["c1"]) == ["cancelled call c1 (set_output): pump back to off"]  # within min_interval_s
    fake_time.advance(30)
    run(tools, "c2", "set_output", name="pump", on=True)
    fake_time.advance(30)
    run(tools, "c3", "set_output", name="pump", on=False)
    fake_time.advance(1)
    assert tools.cancel(["c3"]) == [
        "cancelled call c3 (set_output): could not put pump back to on: pump was switched 1.0 s ago and may "
        "switch at most once every 30 s (min_interval_s, no chattering): try again in 29.0 s"
    ]
    assert history(factory, (24,)) == {24: [0, 1.0, 0.0, 1.0, 0.0]}


def test_a_cancelled_beep_falls_silent(tools: ToolBox, factory: MockFactory) -> None:
    run(tools, "c1", "beep", name="chime", times=10)
    assert tools.cancel(["c1"]) == ["cancelled call c1 (beep): chime back to off"]
    assert history(factory, (26,))[26][-1] == 0
    assert tools.outputs.snapshot()["chime"] is False


def test_the_journal_keeps_the_last_calls_only(outputs: Outputs, factory: MockFactory) -> None:
    tools = ToolBox(outputs, journal_size=2)
    run(tools, "c1", "set_output", name="lamp", on=True)
    run(tools, "c2", "set_brightness", name="dim", percent=10)
    run(tools, "c3", "set_output", name="cooler", on=True)
    assert tools.cancel(["c1", "c2"]) == [
        "cancelled call c1: nothing to undo (not a call that ran, or older than the last 2 calls)",
        "cancelled call c2 (set_brightness): dim back to off",
    ]
    assert history(factory, (17, 12)) == {17: [0, 1.0], 12: [0, 0.1, 0.0]}
