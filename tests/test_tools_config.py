"""The [[outputs]] keys for the new kinds and rules, and [volume]: loading, checks, round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge_agent.errors import ConfigError
from edge_agent.hardware.gpio import Outputs
from edge_agent.settings import OutputSettings, VolumeSettings, load_settings, render_settings, settings_from_mapping


def outputs(*tables: dict[str, Any], **sections: Any) -> Any:
    return settings_from_mapping({"outputs": list(tables), **sections}, source="test.toml")


def error(*tables: dict[str, Any], **sections: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        outputs(*tables, **sections)
    return info.value


def test_an_rgb_led_takes_pins_and_its_pin_is_the_red_one() -> None:
    rgb = outputs({"name": "mood", "kind": "rgb_led", "pins": [5, 6, 13]}).outputs[0]
    assert (rgb.pin, rgb.pins) == (5, (5, 6, 13))
    assert rgb.pin_keys("outputs[0]") == [
        ("outputs[0].pins[0]", 5),
        ("outputs[0].pins[1]", 6),
        ("outputs[0].pins[2]", 13),
    ]


def test_every_new_key_renders_and_loads_back(tmp_path: Path) -> None:
    settings = outputs(
        {"name": "mood", "kind": "rgb_led", "pins": [5, 6, 13], "safe": True, "active_high": False},
        {"name": "heater", "kind": "relay", "pin": 22, "max_on_s": 1800, "min_interval_s": 60, "interlock": "climate"},
        {"name": "chime", "kind": "buzzer", "pin": 26},
        {"name": "dim", "kind": "pwm_led", "pin": 12, "initial": True},
        volume={"mixer_control": "PCM", "mixer_device": "hw:CARD=Headphones", "enabled": False},
    )
    path = tmp_path / "rendered.toml"
    text = render_settings(settings, None)
    assert "\n[volume]\n" in text and 'mixer_control = "PCM"' in text
    path.write_text(text)
    assert load_settings(path) == settings


def test_volume_defaults() -> None:
    assert VolumeSettings() == VolumeSettings(enabled=True, mixer_control="Master", mixer_device="default")
    assert settings_from_mapping({}).volume == VolumeSettings()


@pytest.mark.parametrize(
    ("tables", "key", "expected", "found"),
    [
        pytest.param(
            [{"name": "mood", "kind": "rgb_led", "pins": [5, 6]}],
            "outputs[0].pins",
            "3 BCM pins [red, green, blue] for an rgb_led",
            "[5, 6]",
            id="rgb-two-pins",
        ),
        pytest.param(
            [{"name": "mood", "kind": "rgb_led", "pin": 7, "pins": [5, 6, 13]}],
            "outputs[0].pin",
            "no pin for an rgb_led, or its red pin pins[0] = 5",
            "7",
            id="rgb-other-pin",
        ),
        pytest.param(
            [{"name": "mood", "kind": "rgb_led"}],
            "outputs[0].pin",
            "an integer between 0 and 27 (an rgb_led takes pins = [red, green, blue] instead) (this key is required)",
            "nothing (the key is missing)",
            id="rgb-no-pins",
        ),
        pytest.param(
            [{"name": "lamp", "kind": "led", "pin": 4, "pins": [5, 6, 13]}],
            "outputs[0].pins",
            "[] (pins is for rgb_led; a led takes pin)",
            "[5, 6, 13]",
            id="pins-on-a-led",
        ),
        pytest.param(
            [{"name": "lamp", "kind": "led", "pin": 4, "max_on_s": 60}],
            "outputs[0].max_on_s",
            "0.0 (max_on_s is for relays only)",
            "60.0",
            id="max-on-for-a-led",
        ),
        pytest.param(
            [{"name": "dim", "kind": "pwm_led", "pin": 4, "interlock": "a"}],
            "outputs[0].interlock",
            "'' (interlock is for relays only)",
            "'a'",
            id="interlock-for-a-pwm-led",
        ),
        pytest.param(
            [{"name": "fan", "kind": "relay", "pin": 4, "interlock": "Climate"}],
            "outputs[0].interlock",
            '"" or a group name: a lowercase letter, then up to 39 lowercase letters, digits or _',
            "'Climate'",
            id="interlock-name",
        ),
        pytest.param(
            [{"name": "fan", "kind": "relay", "pin": 4, "max_on_s": -1}],
            "outputs[0].max_on_s",
            "a number between 0 and 86400",
            "-1",
            id="max-on-range",
        ),
        pytest.param(
            [{"name": "lamp", "kind": "led", "pin": 6}, {"name": "mood", "kind": "rgb_led", "pins": [5, 6, 13]}],
            "outputs[1].pins[1]",
            "a value not already used by outputs[0].pin",
            "6",
            id="rgb-pin-clash",
        ),
        pytest.param(
            [{"name": "mood", "kind": "rgb_led", "pins": [5, 6, 5]}],
            "outputs[0].pins[2]",
            "a value not already used by outputs[0].pins[0]",
            "5",
            id="rgb-pin-twice",
        ),
        pytest.param(
            [
                {"name": "heater", "kind": "relay", "pin": 4, "interlock": "climate", "initial": True},
                {"name": "cooler", "kind": "relay", "pin": 5, "interlock": "climate", "initial": True},
            ],
            "outputs[1].initial",
            "false: heater of interlock group 'climate' has initial = true, and interlocked relays are never on "
            "together",
            "true",
            id="interlock-both-initial",
        ),
        pytest.param(
            [
                {"name": "heater", "kind": "relay", "pin": 4, "interlock": "climate", "safe": True},
                {"name": "fan", "kind": "relay", "pin": 6, "safe": True},
                {"name": "cooler", "kind": "relay", "pin": 5, "interlock": "climate", "safe": True},
            ],
            "outputs[2].safe",
            "false: heater of interlock group 'climate' has safe = true",
            "true",
            id="interlock-both-safe",
        ),
    ],
)
def test_broken_rules_name_key_expected_and_found(
    tables: list[dict[str, Any]], key: str, expected: str, found: str
) -> None:
    e = error(*tables)
    assert (e.key, e.found) == (key, found)
    assert e.expected.startswith(expected)


def test_outputs_built_directly_check_the_rules_too() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    try:
        with pytest.raises(ValueError, match=r"output 'lamp': max_on_s: expected 0.0 \(max_on_s is for relays only\)"):
            Outputs([OutputSettings(name="lamp", kind="led", pin=4, max_on_s=5)], pin_factory=factory)
        both_on = [
            OutputSettings(name="a", kind="relay", pin=4, interlock="g", initial=True),
            OutputSettings(name="b", kind="relay", pin=5, interlock="g", initial=True),
        ]
        with pytest.raises(ValueError, match="output 'b': initial = true breaks a rule: b and a are interlocked"):
            Outputs(both_on, pin_factory=factory)
        assert [s.state for s in factory.pin(4).states] == [0, 1, 0]  # a was switched back off and released
    finally:
        factory.close()
        factory.reset()
