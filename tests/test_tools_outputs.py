"""Every output kind driven by tool calls on MockFactory(MockPWMPin) pins, and the safety rules.

Pin histories are compared whole (``[s.state for s in pin.states]``), never with ``assert_states``,
which zips and so passes on a history that is too short.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.events import ToolCall
from edge_agent.hardware.gpio import Outputs
from edge_agent.settings import OutputSettings
from edge_agent.tools import ToolBox

Out = OutputSettings
KINDS = (
    Out(name="lamp", kind="led", pin=17, description="Desk lamp"),
    Out(name="dim", kind="pwm_led", pin=12, description="Reading light"),
    Out(name="mood", kind="rgb_led", pins=(5, 6, 13), description="Mood light"),
    Out(name="fan", kind="relay", pin=22, active_high=False, max_on_s=600, description="Fan"),
    Out(name="chime", kind="buzzer", pin=26, description="Chime"),
)
PINS = (17, 12, 5, 6, 13, 22, 26)
ORANGE_G = 128 / 255  # "orange" is #ff8000


@dataclass
class Timer:
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeTime:
    """A monotonic clock and a scheduler: time moves only in advance(), timers fire in order."""

    now: float = 1000.0
    timers: list[Timer] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[Timer]:
        return [t for t in self.timers if not t.cancelled]

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while due := sorted((t for t in self.pending() if t.due <= end), key=lambda t: t.due):
            timer = due[0]
            self.now = timer.due
            timer.cancelled = True  # spent
            timer.callback()
        self.now = end


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make(factory: MockFactory, fake_time: FakeTime, *outputs: OutputSettings) -> Outputs:
    return Outputs(outputs or KINDS, pin_factory=factory, schedule=fake_time.schedule, clock=fake_time.clock)


@pytest.fixture
def outputs(factory: MockFactory, fake_time: FakeTime) -> Iterator[Outputs]:
    o = make(factory, fake_time)
    yield o
    o.close()


def history(factory: MockFactory, pins: tuple[int, ...] = PINS) -> dict[int, list[float]]:
    return {pin: [s.state for s in factory.pin(pin).states] for pin in pins}


def call(tools: ToolBox, function: str, /, **args: Any) -> dict[str, Any]:
    return dict(tools.call(ToolCall("c", function, args)).response)


# --- declarations ----------------------------------------------------------------------------------------


def test_each_capability_gets_its_function_with_an_enum_of_the_names_that_have_it(outputs: Outputs) -> None:
    specs = {s.name: s.parameters for s in ToolBox(outputs).specs}
    assert list(specs) == ["set_output", "get_outputs", "set_brightness", "set_color", "beep"]
    assert specs["set_output"]["properties"]["name"]["enum"] == ["lamp", "dim", "mood", "fan", "chime"]  # type: ignore[index]
    brightness = specs["set_brightness"]
    assert brightness is not None and sorted(brightness["required"]) == ["name", "percent"]
    assert brightness["properties"]["name"]["enum"] == ["dim", "mood"]
    assert brightness["properties"]["percent"] == {
        "description": "Brightness in percent: 0 = off, 100 = full.",
        "minimum": 0,
        "maximum": 100,
        "type": "NUMBER",
    }
    color = specs["set_color"]
    assert color is not None and color["properties"]["name"] == {
        "description": "Which colour light.",
        "enum": ["mood"],
        "type": "STRING",
    }
    assert (
        color["properties"]["color"]["type"] == "STRING" and "warm white" in color["properties"]["color"]["description"]
    )
    beep = specs["beep"]
    assert beep is not None and beep["required"] == ["name"]
    assert beep["properties"]["times"] == {
        "description": "How many beeps, 1..10 (default 1).",
        "minimum": 1,
        "maximum": 10,
        "type": "INTEGER",
    }


def test_the_set_output_description_tells_kinds_and_relay_rules(factory: MockFactory, fake_time: FakeTime) -> None:
    outputs = make(
        factory,
        fake_time,
        Out(name="lamp", kind="led", pin=17, description="Desk lamp"),
        Out(name="heater", kind="relay", pin=22, max_on_s=1800, min_interval_s=60, interlock="climate"),
        Out(name="cooler", kind="relay", pin=23, interlock="climate", description="Air cooler"),
    )
    text = ToolBox(outputs).specs[0].description
    assert "lamp: Desk lamp; heater: relay (off by itself after 1800 s; at most one switch every 60 s; " in text
    assert "never on together with cooler)" in text and "cooler: Air cooler (never on together with heater)" in text
    assert [s.name for s in ToolBox(outputs).specs] == ["set_output", "get_outputs"]


# --- each kind, by tool calls ----------------------------------------------------------------------------


def test_pwm_led_dims_and_on_comes_back_at_the_last_level(outputs: Outputs, factory: MockFactory) -> None:
    tools = ToolBox(outputs)
    assert call(tools, "set_brightness", name="dim", percent=40) == {
        "output": "dim",
        "on": True,
        "brightness": 40,
        "changed": True,
    }
    assert call(tools, "set_brightness", name="dim", percent=40.0)["changed"] is False  # idempotent
    assert call(tools, "set_output", name="dim", on=False) == {
        "output": "dim",
        "on": False,
        "brightness": 0,
        "changed": True,
    }
    assert call(tools, "set_output", name="dim", on=True)["brightness"] == 40
    assert call(tools, "set_brightness", name="dim", percent=0)["on"] is False
    assert history(factory, (12,)) == {12: [0, 0.4, 0.0, 0.4, 0.0]}


def test_pwm_led_on_at_first_is_full_brightness(outputs: Outputs, factory: MockFactory) -> None:
    assert call(ToolBox(outputs), "set_output", name="dim", on=True)["brightness"] == 100
    assert history(factory, (12,)) == {12: [0, 1.0]}


def test_rgb_led_colour_and_brightness(outputs: Outputs, factory: MockFactory) -> None:
    tools = ToolBox(outputs)
    assert call(tools, "set_color", name="mood", color="Orange") == {
        "output": "mood",
        "on": True,
        "brightness": 100,
        "color": "orange",
        "changed": True,
    }
    assert call(tools, "set_brightness", name="mood", percent=50)["color"] == "orange"  # keeps its colour
    assert call(tools, "set_color", name="mood", color="#00FF00")["brightness"] == 50  # keeps its brightness
    assert call(tools, "set_color", name="mood", color="green")["changed"] is False
    assert call(tools, "set_output", name="mood", on=False) == {
        "output": "mood",
        "on": False,
        "brightness": 0,
        "changed": True,
    }
    assert call(tools, "set_output", name="mood", on=True)["color"] == "green"  # the last colour and level
    assert history(factory, (5, 6, 13)) == {
        5: [0, 1.0, 0.5, 0.0],
        6: [0, ORANGE_G, ORANGE_G / 2, 0.5, 0.0, 0.5],
        13: [0],
    }


def test_rgb_led_on_at_first_is_white_and_a_hex_colour_is_reported_as_hex(
    outputs: Outputs, factory: MockFactory
) -> None:
    tools = ToolBox(outputs)
    assert call(tools, "set_output", name="mood", on=True)["color"] == "white"
    assert call(tools, "set_color", name="mood", color="#402010")["color"] == "#ff8040"  # hue only; level apart
    assert history(factory, (5, 6, 13)) == {5: [0, 1.0], 6: [0, 1.0, 128 / 255], 13: [0, 1.0, 64 / 255]}


def test_relay_active_low_and_led_by_set_output(outputs: Outputs, factory: MockFactory) -> None:
    tools = ToolBox(outputs)
    assert call(tools, "set_output", name="lamp", on=True) == {"output": "lamp", "on": True, "changed": True}
    fan = call(tools, "set_output", name="fan", on=True)
    assert fan == {"output": "fan", "on": True, "auto_off_in_s": 600.0, "changed": True}
    assert history(factory, (17, 22)) == {17: [0, 1.0], 22: [0, 1.0, 0.0]}  # fan: idle input, off = high, on = low


def test_buzzer_sounds_and_beeps_in_the_background(outputs: Outputs, factory: MockFactory) -> None:
    tools = ToolBox(outputs)
    assert call(tools, "set_output", name="chime", on=True) == {"output": "chime", "on": True, "changed": True}
    assert call(tools, "set_output", name="chime", on=False)["on"] is False
    started = time.monotonic()
    response = call(tools, "beep", name="chime", times=2.0)
    assert time.monotonic() - started < 0.1  # answered at once; the beeps take 0.6 s
    assert response == {"output": "chime", "beeping": True, "times": 2, "seconds": 0.6}
    assert outputs.report("chime") == {"on": True, "beeping": True}
    deadline = time.monotonic() + 5
    while len(factory.pin(26).states) < 7 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.35)  # nothing more may follow the last beep
    assert history(factory, (26,)) == {26: [0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]}


def test_get_outputs_adds_details_where_there_are_any(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    call(tools, "set_brightness", name="dim", percent=25)
    call(tools, "set_output", name="fan", on=True)
    assert call(tools, "get_outputs") == {
        "outputs": {"lamp": False, "dim": True, "mood": False, "fan": True, "chime": False},
        "details": {"dim": {"brightness": 25}, "mood": {"brightness": 0}, "fan": {"auto_off_in_s": 600.0}},
    }


# --- refusals: nothing changes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "expect"),
    [
        ("set_brightness", {"name": "lamp", "percent": 50}, "name: Input should be 'dim' or 'mood'"),
        ("set_brightness", {"name": "dim", "percent": 101}, "percent: Input should be less than or equal to 100"),
        ("set_brightness", {"name": "dim", "percent": -1}, "percent: Input should be greater than or equal to 0"),
        ("set_brightness", {"name": "dim", "percent": "50"}, "percent: Input should be a valid number"),
        ("set_brightness", {"name": "dim", "percent": True}, "percent: Input should be a valid number"),
        ("set_brightness", {"name": "dim", "percent": float("nan")}, "percent: Input should be a finite number"),
        ("set_brightness", {"name": "dim"}, "percent: Field required"),
        ("set_color", {"name": "mood", "color": "mauve"}, "unknown colour 'mauve': use a colour name (white,"),
        ("set_color", {"name": "mood", "color": "#12345"}, "unknown colour '#12345'"),
        ("set_color", {"name": "mood", "color": "#000000"}, "switch the output off with set_output"),
        ("set_color", {"name": "mood", "color": 255}, "color: Input should be a valid string"),
        ("set_color", {"name": "dim", "color": "red"}, "name: Input should be 'mood'"),
        ("beep", {"name": "chime", "times": 0}, "times: Input should be greater than or equal to 1"),
        ("beep", {"name": "chime", "times": 11}, "times: Input should be less than or equal to 10"),
        ("beep", {"name": "chime", "times": 2.5}, "times: Input should be a valid integer"),
        ("beep", {"name": "chime", "times": "3"}, "times: Input should be a valid integer"),
        ("beep", {"name": "lamp"}, "name: Input should be 'chime'"),
        ("set_output", {"name": "garage", "on": True}, "name: Input should be 'lamp', 'dim', 'mood', 'fan' or 'chime'"),
        ("set_color", {"name": "mood", "color": "red", "fade": 2}, "fade: Extra inputs are not permitted"),
        ("blink", {"name": "lamp"}, "unknown function 'blink'; available: set_output, get_outputs, set_brightness"),
    ],
)
def test_bad_calls_are_refused_before_any_pin_is_touched(
    outputs: Outputs, factory: MockFactory, name: str, args: dict[str, Any], expect: str
) -> None:
    before = history(factory)
    result = ToolBox(outputs).call(ToolCall("bad", name, args))
    assert (result.id, result.name, result.ok) == ("bad", name, False)
    assert expect in result.response["error"]
    assert history(factory) == before


def interlocked(factory: MockFactory, fake_time: FakeTime, **extra: Any) -> Outputs:
    return make(
        factory,
        fake_time,
        Out(name="heater", kind="relay", pin=22, interlock="climate", **extra),
        Out(name="cooler", kind="relay", pin=23, interlock="climate"),
        Out(name="fan", kind="relay", pin=24),
    )


def test_interlocked_relays_are_never_on_together(factory: MockFactory, fake_time: FakeTime) -> None:
    outputs = interlocked(factory, fake_time)
    tools = ToolBox(outputs)
    assert call(tools, "set_output", name="heater", on=True)["on"] is True
    before = history(factory, (22, 23, 24))
    refused = call(tools, "set_output", name="cooler", on=True)
    assert refused == {
        "error": "refused: cooler and heater are interlocked (group 'climate') and are never on together: "
        "heater is on; switch heater off first"
    }
    assert history(factory, (22, 23, 24)) == before
    assert call(tools, "set_output", name="fan", on=True)["on"] is True  # not in the group
    assert call(tools, "set_output", name="heater", on=False)["on"] is False
    assert call(tools, "set_output", name="cooler", on=True)["on"] is True
    assert history(factory, (22, 23, 24)) == {22: [0, 1.0, 0.0], 23: [0, 1.0], 24: [0, 1.0]}
    outputs.close()


def test_a_relay_may_not_chatter(factory: MockFactory, fake_time: FakeTime) -> None:
    outputs = make(factory, fake_time, Out(name="pump", kind="relay", pin=22, min_interval_s=5))
    tools = ToolBox(outputs)
    assert call(tools, "set_output", name="pump", on=True)["changed"] is True
    fake_time.advance(1)
    assert call(tools, "set_output", name="pump", on=True)["changed"] is False  # no switch: no refusal
    before = history(factory, (22,))
    assert call(tools, "set_output", name="pump", on=False) == {
        "error": "refused: pump was switched 1.0 s ago and may switch at most once every 5 s "
        "(min_interval_s, no chattering): try again in 4.0 s"
    }
    assert history(factory, (22,)) == before
    fake_time.advance(4)
    assert call(tools, "set_output", name="pump", on=False)["on"] is False
    assert history(factory, (22,)) == {22: [0, 1.0, 0.0]}
    outputs.close()


# --- max_on_s ------------------------------------------------------------------------------------------------


def test_max_on_s_switches_a_relay_off_by_itself(
    factory: MockFactory, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent")
    outputs = make(factory, fake_time, Out(name="heater", kind="relay", pin=22, max_on_s=10))
    tools = ToolBox(outputs)
    assert call(tools, "set_output", name="heater", on=True)["auto_off_in_s"] == 10.0
    fake_time.advance(9.5)
    assert outputs.report("heater") == {"on": True, "auto_off_in_s": 0.5}
    fake_time.advance(0.5)
    assert history(factory, (22,)) == {22: [0, 1.0, 0.0]}
    assert "output heater (BCM 22) -> off by itself after 10 s on (max_on_s)" in caplog.messages
    fake_time.advance(30)
    assert call(tools, "get_outputs") == {
        "outputs": {"heater": False},
        "details": {"heater": {"auto_off": "switched off by itself 30 s ago, after 10 s on (max_on_s)"}},
    }
    assert call(tools, "set_output", name="heater", on=True)["auto_off_in_s"] == 10.0  # the note goes, a new timer
    outputs.close()


def test_switching_off_calls_the_timer_off(factory: MockFactory, fake_time: FakeTime) -> None:
    outputs = make(factory, fake_time, Out(name="heater", kind="relay", pin=22, max_on_s=10))
    tools = ToolBox(outputs)
    call(tools, "set_output", name="heater", on=True)
    fake_time.advance(5)
    call(tools, "set_output", name="heater", on=False)
    assert fake_time.pending() == []
    call(tools, "set_output", name="heater", on=True)
    fake_time.advance(9)
    assert outputs.state("heater") is True  # the new timer runs 10 s from the second switch-on
    fake_time.advance(1)
    assert history(factory, (22,)) == {22: [0, 1.0, 0.0, 1.0, 0.0]}
    outputs.close()


def test_an_initially_on_relay_gets_its_timer_and_the_default_scheduler_needs_no_loop(factory: MockFactory) -> None:
    outputs = Outputs([Out(name="heater", kind="relay", pin=22, max_on_s=0.05, initial=True)], pin_factory=factory)
    deadline = time.monotonic() + 5
    while outputs.state("heater") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert history(factory, (22,)) == {22: [0, 1.0, 0.0]}
    assert "auto_off" in outputs.report("heater")
    outputs.close()


# --- the safe state -----------------------------------------------------------------------------------------


SAFE = (
    Out(name="lamp", kind="led", pin=17, safe=True),
    Out(name="dim", kind="pwm_led", pin=12, safe=True),
    Out(name="mood", kind="rgb_led", pins=(5, 6, 13), safe=True),
    Out(name="fan", kind="relay", pin=22, active_high=False, max_on_s=600),
    Out(name="chime", kind="buzzer", pin=26),
)


def drive_everything(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    call(tools, "set_brightness", name="dim", percent=30)
    call(tools, "set_color", name="mood", color="red")
    call(tools, "set_output", name="fan", on=True)
    call(tools, "set_output", name="chime", on=True)


def test_to_safe_state_from_another_thread_twice_then_every_switch_is_refused(
    factory: MockFactory, fake_time: FakeTime
) -> None:
    outputs = make(factory, fake_time, *SAFE)
    drive_everything(outputs)
    threads = [threading.Thread(target=outputs.to_safe_state) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    expected = {
        17: [0, 1.0],
        12: [0, 0.3, 1.0],
        5: [0, 1.0],  # red at 100 %, then white: red stays full
        6: [0, 1.0],
        13: [0, 1.0],
        22: [0, 1.0, 0.0, 1.0],
        26: [0, 1.0, 0.0],
    }
    assert history(factory) == expected
    assert fake_time.pending() == []  # the fan's auto-off timer is gone
    refused = call(ToolBox(outputs), "set_output", name="fan", on=True)
    assert refused == {"error": "refused: the outputs are shutting down and stay in their safe state"}
    outputs.to_safe_state()
    assert history(factory) == expected
    outputs.close()


def test_close_leaves_every_output_in_its_safe_state_before_releasing_the_pins(
    factory: MockFactory, fake_time: FakeTime
) -> None:
    changes: list[tuple[str, int, bool]] = []
    outputs = Outputs(SAFE, pin_factory=factory, on_change=lambda *c: changes.append(c), clock=fake_time.clock)
    drive_everything(outputs)
    outputs.close()
    outputs.close()  # idempotent
    assert changes == [
        ("lamp", 17, False),
        ("dim", 12, False),
        ("mood", 5, False),
        ("fan", 22, False),
        ("chime", 26, False),
        ("dim", 12, True),
        ("mood", 5, True),
        ("fan", 22, True),
        ("chime", 26, True),
        ("lamp", 17, True),
        ("fan", 22, False),
        ("chime", 26, False),
    ]
    # The safe levels were written before the release (a released mock pin then reads 0).
    released = history(factory)
    assert released[17][:2] == [0, 1.0] and released[12][:3] == [0, 0.3, 1.0] and released[22][:4] == [0, 1.0, 0.0, 1.0]


def test_a_beeping_buzzer_falls_silent_in_the_safe_state(factory: MockFactory, fake_time: FakeTime) -> None:
    outputs = make(factory, fake_time, Out(name="chime", kind="buzzer", pin=26))
    outputs.beep("chime", 10)
    outputs.to_safe_state()
    assert outputs.report("chime") == {"on": False}
    time.sleep(0.4)  # the beep thread is stopped: no further states
    assert history(factory, (26,)) == {26: [0, 1.0, 0.0]}
    outputs.close()


def test_auto_off_on_the_event_loop_with_call_later(factory: MockFactory) -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        relay = Out(name="heater", kind="relay", pin=22, max_on_s=0.05)
        outputs = Outputs([relay], pin_factory=factory, schedule=loop.call_later)
        outputs.set("heater", True)
        await asyncio.sleep(0.2)
        states = history(factory, (22,))[22]
        outputs.close()
        return states

    assert asyncio.run(scenario()) == [0, 1.0, 0.0]
