"""Tool declarations and calls against real gpiozero devices on MockFactory pins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.events import ToolCall
from edge_agent.hardware.gpio import Outputs
from edge_agent.settings import OutputSettings
from edge_agent.tools import ToolBox

OUTPUTS = (
    OutputSettings(name="kitchen_light", kind="led", pin=17, description="Kitchen light"),
    OutputSettings(name="fan", kind="relay", pin=22, description="Fan", active_high=False),
)


@pytest.fixture
def outputs(factory: MockFactory) -> Iterator[Outputs]:
    o = Outputs(OUTPUTS, pin_factory=factory)
    yield o
    o.close()


def history(factory: MockFactory) -> dict[int, list[float]]:
    return {pin: [s.state for s in factory.pin(pin).states] for pin in (17, 22)}


def test_declarations_list_the_configured_names_as_an_enum(outputs: Outputs) -> None:
    specs = {s.name: s for s in ToolBox(outputs).specs}
    assert list(specs) == ["set_output", "get_outputs"]
    params = specs["set_output"].parameters
    assert params is not None
    assert params["type"] == "OBJECT" and sorted(params["required"]) == ["name", "on"]
    assert params["properties"]["name"] == {
        "description": "Which output to switch.",
        "enum": ["kitchen_light", "fan"],
        "type": "STRING",
    }
    assert params["properties"]["on"]["type"] == "BOOLEAN"
    assert "kitchen_light: Kitchen light" in specs["set_output"].description
    assert specs["get_outputs"].parameters is None


def test_no_outputs_means_no_tools(factory: MockFactory) -> None:
    assert ToolBox(Outputs((), pin_factory=factory)).specs == []


def test_set_output_switches_the_pin_and_reports_the_real_state(outputs: Outputs, factory: MockFactory) -> None:
    tools = ToolBox(outputs)
    result = tools.call(ToolCall("id-1", "set_output", {"name": "kitchen_light", "on": True}))
    assert (result.id, result.name) == ("id-1", "set_output")
    assert result.response == {"output": "kitchen_light", "on": True, "changed": True}
    assert factory.pin(17).state == 1
    again = tools.call(ToolCall("id-2", "set_output", {"name": "kitchen_light", "on": True}))
    assert again.response == {"output": "kitchen_light", "on": True, "changed": False}
    assert [s.state for s in factory.pin(17).states] == [0, 1]


def test_an_active_low_relay_drives_its_pin_low_when_on(outputs: Outputs, factory: MockFactory) -> None:
    assert factory.pin(22).state == 1  # off = high on an active-low board
    ToolBox(outputs).call(ToolCall("r", "set_output", {"name": "fan", "on": True}))
    assert factory.pin(22).state == 0
    assert outputs.state("fan") is True


@pytest.mark.parametrize(
    ("name", "args", "expect"),
    [
        ("set_output", {"name": "garage", "on": True}, "name: Input should be 'kitchen_light' or 'fan'"),
        ("set_output", {"name": "fan", "on": "yes"}, "on: Input should be a valid boolean"),
        ("set_output", {"name": "fan", "on": 1}, "on: Input should be a valid boolean"),
        ("set_output", {"name": "fan"}, "on: Field required"),
        ("set_output", {}, "name: Field required"),
        ("set_output", {"name": "fan", "on": True, "pin": 4}, "pin: Extra inputs are not permitted"),
        ("get_outputs", {"verbose": True}, "verbose: Extra inputs are not permitted"),
        ("open_door", {}, "unknown function 'open_door'"),
    ],
)
def test_bad_calls_get_an_error_and_touch_no_pin(
    outputs: Outputs, factory: MockFactory, name: str, args: dict[str, Any], expect: str
) -> None:
    before = history(factory)
    result = ToolBox(outputs).call(ToolCall("bad", name, args))
    assert (result.id, result.name) == ("bad", name)
    assert expect in result.response["error"]
    assert not result.ok
    assert history(factory) == before


def test_get_outputs_reports_every_state(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    tools.call(ToolCall("1", "set_output", {"name": "fan", "on": True}))
    assert tools.call(ToolCall("2", "get_outputs", {})).response == {"outputs": {"kitchen_light": False, "fan": True}}


def test_close_puts_every_output_in_its_safe_state(factory: MockFactory) -> None:
    changes: list[tuple[str, int, bool]] = []
    outputs = Outputs(OUTPUTS, pin_factory=factory, on_change=lambda *c: changes.append(c))
    outputs.set("kitchen_light", True)
    outputs.set("fan", True)
    outputs.close()
    outputs.close()  # idempotent
    assert changes[-2:] == [("kitchen_light", 17, False), ("fan", 22, False)]
    # Driven to the safe level before the pins are released (released pins read their pull).
    assert [s.state for s in factory.pin(17).states] == [0, 1, 0]
    assert [s.state for s in factory.pin(22).states][1:4] == [1, 0, 1]  # [0] is the idle input
