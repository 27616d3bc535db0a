"""Status lights, pure parts: situation → state → pattern, the tracker over the daemon's vocabulary,
the [lights] settings and the pin-factory choice. The drivers are in tests/hardware/test_lights_drivers.py.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path

import pytest

from edge_agent import commands as cmd
from edge_agent import events as ev
from edge_agent.commands import Command
from edge_agent.conversation import Conversation
from edge_agent.errors import ConfigError, HardwareError
from edge_agent.events import ConnectAction, Event, Phase
from edge_agent.hardware.pin_factory import choose_pin_factory, open_pin_factory, read_model
from edge_agent.lights import (
    PATTERNS,
    Effect,
    LightPattern,
    LightState,
    LightsTracker,
    Situation,
    frame_at,
    intensity_at,
    lights_for,
    privacy_on,
    status_state,
)
from edge_agent.settings import LightsSettings, Settings, load_settings, render_settings, settings_from_mapping

S = LightState
SHIPPED = Path(__file__).resolve().parent.parent / "config" / "edge-agent.toml"

# --- situation → state: a table -------------------------------------------------------------------------

TABLE = [
    (Situation(Phase.STANDBY), S.STANDBY),
    (Situation(Phase.CONNECTING), S.CONNECTING),
    (Situation(Phase.RECONNECTING), S.CONNECTING),
    (Situation(Phase.LISTENING), S.LISTENING),
    (Situation(Phase.LISTENING, thinking=True), S.THINKING),
    (Situation(Phase.RESPONDING), S.THINKING),  # a tool call runs, no audio yet
    (Situation(Phase.RESPONDING, speaking=True), S.SPEAKING),
    (Situation(Phase.MUTED), S.MUTED),
    (Situation(Phase.STANDBY, offline=True), S.OFFLINE),
    (Situation(Phase.RECONNECTING, offline=True), S.OFFLINE),
    (Situation(Phase.ERROR), S.AUTH_ERROR),
    (Situation(Phase.STANDBY, auth_error=True), S.AUTH_ERROR),
    (Situation(Phase.STANDBY, budget_exhausted=True), S.BUDGET_EXHAUSTED),
]


@pytest.mark.parametrize(("situation", "state"), TABLE, ids=[f"{s.phase.value}-{st.value}" for s, st in TABLE])
def test_each_situation_shows_its_state(situation: Situation, state: LightState) -> None:
    assert status_state(situation) is state
    assert lights_for(situation).status == PATTERNS[state]


PRECEDENCE = [
    ("muted", S.MUTED),
    ("auth_error", S.AUTH_ERROR),
    ("budget_exhausted", S.BUDGET_EXHAUSTED),
    ("offline", S.OFFLINE),
    ("speaking", S.SPEAKING),
    ("thinking", S.THINKING),
    ("listening", S.LISTENING),
]


def situation_with(flags: set[str]) -> Situation:
    phase = Phase.MUTED if "muted" in flags else Phase.LISTENING if "listening" in flags else Phase.STANDBY
    return Situation(phase, **{f: True for f in flags if f not in ("muted", "listening")})


@pytest.mark.parametrize("size", range(1, len(PRECEDENCE) + 1))
def test_precedence_muted_auth_budget_offline_speaking_thinking_listening_standby(size: int) -> None:
    for combo in itertools.combinations(PRECEDENCE, size):
        flags = {name for name, _ in combo}
        assert status_state(situation_with(flags)) is combo[0][1], flags
    assert status_state(Situation(Phase.STANDBY)) is S.STANDBY


def all_situations() -> list[Situation]:
    flags = ("thinking", "speaking", "offline", "auth_error", "budget_exhausted", "camera_active")
    return [
        Situation(phase, **dict(zip(flags, values, strict=True)))
        for phase in Phase
        for values in itertools.product((False, True), repeat=len(flags))
    ]


def test_privacy_light_is_on_exactly_while_the_camera_is_active_and_not_muted() -> None:
    for s in all_situations():
        assert privacy_on(s) == (s.camera_active and s.phase is not Phase.MUTED), s
        assert lights_for(s).privacy == privacy_on(s)


def test_the_camera_never_changes_the_status_lights() -> None:
    for s in all_situations():
        assert lights_for(replace(s, camera_active=True)).status == lights_for(replace(s, camera_active=False)).status


def test_every_state_has_its_own_pattern_and_a_single_led_tells_them_apart() -> None:
    patterns = list(PATTERNS.values())
    assert len(set(patterns)) == len(patterns) == len(LightState)
    mono = [(p.for_mono().effect, p.for_mono().period_s, p.for_mono().level, p.for_mono().duty) for p in patterns]
    assert len(set(mono)) == len(mono)


def test_muted_is_solid_red_on_color_lights_and_a_short_wink_on_a_single_led() -> None:
    muted = PATTERNS[S.MUTED]
    assert (muted.color, muted.effect) == ((255, 0, 0), Effect.SOLID)
    assert (muted.for_mono().effect, muted.for_mono().duty) == (Effect.BLINK, 0.1)


# --- rendering over time --------------------------------------------------------------------------------


def test_solid_is_constant_and_off_is_dark() -> None:
    solid = LightPattern((0, 64, 255), Effect.SOLID, level=0.5)
    assert {intensity_at(solid, t) for t in (0.0, 0.3, 7.1)} == {0.5}
    assert frame_at(solid, 1.0, 2) == ((0.0, 64 / 255 * 0.5, 0.5), (0.0, 64 / 255 * 0.5, 0.5))
    assert intensity_at(PATTERNS[S.OFF], 0.2) == 0.0
    assert not solid.animated and PATTERNS[S.THINKING].animated


def test_blink_pulse_and_spin_over_one_period() -> None:
    blink = LightPattern((255, 0, 0), Effect.BLINK, 1.0, duty=0.25)
    assert [intensity_at(blink, t) for t in (0.0, 0.2, 0.3, 0.9, 1.1)] == [1.0, 1.0, 0.0, 0.0, 1.0]
    pulse = LightPattern((255, 0, 0), Effect.PULSE, 2.0, level=0.8)
    assert intensity_at(pulse, 0.0) == pytest.approx(0.0)
    assert intensity_at(pulse, 1.0) == pytest.approx(0.8)
    assert intensity_at(pulse, 0.5) == pytest.approx(0.4)
    spin = LightPattern((0, 0, 255), Effect.SPIN, 3.0)
    brightest = [max(range(3), key=lambda i, t=t: intensity_at(spin, t, i, 3)) for t in (0.0, 1.0, 2.0)]
    assert brightest == [0, 1, 2]  # the spot moves one pixel a third of a period


# --- the tracker, driven by the real conversation core ---------------------------------------------------


class Harness:
    """The daemon's loop in miniature: events into the conversation and the tracker, then its commands."""

    def __init__(self, *, camera_enabled: bool = True, **conversation: object) -> None:
        self.conversation = Conversation(**{"mode": "on_wake", "idle_timeout_s": 8.0, **conversation})  # type: ignore[arg-type]
        self.tracker = LightsTracker(camera_enabled=camera_enabled)
        self.conversation.start()
        self._run(self.conversation.commands_to_run())

    def feed(self, *events: Event) -> LightState:
        for event in events:
            self.conversation.receive(event)
            self.tracker.observe(event)
            self._run(self.conversation.commands_to_run())
        return self.state

    def _run(self, commands: list[Command]) -> None:
        for command in commands:
            self.tracker.observe(command)

    @property
    def state(self) -> LightState:
        return self.tracker.lights.state

    @property
    def privacy(self) -> bool:
        return self.tracker.lights.privacy


def test_a_wake_a_question_a_reply_and_back_to_standby() -> None:
    h = Harness()
    assert h.state is S.CONNECTING
    assert h.feed(ev.SessionConnected()) is S.STANDBY
    assert h.feed(ev.WakeRequested("button")) is S.LISTENING
    assert h.feed(ev.InputTranscribed("Turn on the light", finished=False)) is S.LISTENING
    assert h.feed(ev.InputTranscribed(".", finished=True)) is S.THINKING
    assert h.feed(ev.ModelAudioReceived(b"\0\0" * 240)) is S.SPEAKING
    assert h.feed(ev.GenerationCompleted(), ev.TurnCompleted()) is S.SPEAKING  # still playing
    assert h.feed(ev.InputTranscribed("late", finished=True)) is S.SPEAKING  # a late transcript is no question
    assert h.feed(ev.PlaybackDrained()) is S.LISTENING  # the follow-up window
    assert h.feed(ev.TimerFired("idle")) is S.STANDBY


def test_tool_calls_think_and_barge_in_stops_speaking() -> None:
    h = Harness()
    h.feed(ev.SessionConnected(), ev.WakeRequested("button"))
    assert h.feed(ev.ToolCallsReceived((ev.ToolCall("1", "set_output", {"name": "fan", "on": True}),))) is S.THINKING
    assert h.feed(ev.ToolCallsAnswered(("1",))) is S.THINKING
    assert h.feed(ev.ModelAudioReceived(b"\0\0")) is S.SPEAKING
    assert h.feed(ev.WakeRequested("button")) is S.LISTENING  # a tap while it speaks silences it


def test_push_to_talk_release_thinks_until_the_reply() -> None:
    h = Harness(turn_detection="push_to_talk")
    h.feed(ev.SessionConnected())
    assert h.feed(ev.TalkPressed()) is S.LISTENING
    assert h.feed(ev.TalkReleased()) is S.THINKING
    assert h.feed(ev.ModelAudioReceived(b"\0\0")) is S.SPEAKING


def test_offline_auth_error_and_an_idle_close_that_is_neither() -> None:
    h = Harness(disconnect_after_s=60.0)
    h.feed(ev.SessionConnected())
    assert h.feed(ev.TimerFired("disconnect")) is S.STANDBY  # Disconnect asked for ...
    assert h.feed(ev.SessionDisconnected("closed while idle")) is S.STANDBY  # ... so not offline
    h.feed(ev.WakeRequested("button"))
    assert h.feed(ev.SessionDisconnected("1011 internal error", ConnectAction.RESUME)) is S.OFFLINE
    assert h.feed(ev.SessionConnected(resumed=True)) is S.LISTENING
    assert h.feed(ev.SessionDisconnected("API key refused", ConnectAction.NEEDS_PERSON)) is S.AUTH_ERROR
    assert h.feed(ev.SessionConnected()) is S.LISTENING


def test_the_budget_and_mute_win_over_everything_else() -> None:
    h = Harness()
    h.feed(ev.SessionConnected(), ev.WakeRequested("button"))
    assert h.feed(ev.BudgetChanged(camera=False, turns=False)) is S.BUDGET_EXHAUSTED
    assert h.feed(ev.SessionDisconnected("dropped", ConnectAction.RESUME)) is S.BUDGET_EXHAUSTED
    assert h.feed(ev.MuteRequested(True, "button")) is S.MUTED
    assert h.feed(ev.MuteRequested(False, "button")) is S.BUDGET_EXHAUSTED
    assert h.feed(ev.BudgetChanged(camera=True, turns=True)) is S.OFFLINE


def test_the_privacy_light_follows_the_camera_and_goes_dark_when_muted() -> None:
    h = Harness()
    h.feed(ev.SessionConnected())
    assert not h.privacy
    h.feed(ev.WakeRequested("button"))
    assert h.privacy  # SetCamera(True): frames may go out while the user is heard
    h.feed(ev.MuteRequested(True, "button"))
    assert (h.state, h.privacy) == (S.MUTED, False)
    assert h.tracker.observe(cmd.SetCamera(True)) is None  # muted: frames never flow, the light stays dark
    h.feed(ev.MuteRequested(False, "button"))
    assert not h.privacy
    h.feed(ev.WakeRequested("button"))
    assert h.privacy


def test_no_camera_no_privacy_light() -> None:
    h = Harness(camera_enabled=False)
    h.feed(ev.SessionConnected(), ev.WakeRequested("button"))
    assert not h.privacy
    assert h.tracker.set_frame_pending(True) is None


def test_a_frame_the_model_asked_for_lights_the_privacy_light_until_it_went_out() -> None:
    h = Harness(camera_policy="on_request")
    h.feed(ev.SessionConnected(), ev.WakeRequested("button"))
    assert not h.privacy  # on_request: no SetCamera window
    lights = h.tracker.set_frame_pending(True)
    assert lights is not None and lights.privacy
    assert h.tracker.set_frame_pending(True) is None  # unchanged: nothing to show
    assert not h.tracker.set_frame_pending(False).privacy  # type: ignore[union-attr]
    h.tracker.set_frame_pending(True)
    h.feed(ev.MuteRequested(True, "button"))
    assert not h.privacy  # muted: the pending frame is dropped with everything else


def test_observe_returns_new_lights_only_when_they_change() -> None:
    tracker = LightsTracker(camera_enabled=False)
    first = tracker.observe(cmd.PhaseEntered(Phase.LISTENING))
    assert first is not None and first.state is S.LISTENING
    assert tracker.observe(cmd.PhaseEntered(Phase.LISTENING)) is None
    assert tracker.observe(cmd.LogTranscript("User", "hi")) is None


# --- [lights] settings ------------------------------------------------------------------------------------


def test_lights_default_to_none() -> None:
    lights = Settings().lights
    assert (lights.kind, lights.pin, lights.pins, lights.brightness, lights.apa102_pixels) == ("none", None, (), 50, 3)
    assert (lights.spi_bus, lights.spi_device, lights.privacy_pin, lights.active_high) == (0, 0, None, True)
    assert lights.pin_keys() == []


@pytest.mark.parametrize(
    ("lights", "message"),
    [
        ({"kind": "led"}, 'lights.pin: expected a BCM pin (0..27) for kind = "led"'),
        (
            {"kind": "rgb_led", "pins": [5, 6]},
            'lights.pins: expected three BCM pins [red, green, blue] for kind = "rgb_led"',
        ),
        ({"kind": "strip"}, "lights.kind: expected one of"),
        ({"brightness": 101}, "lights.brightness"),
        (
            {"kind": "led", "pin": 5, "privacy_pin": 5},
            "lights.privacy_pin: expected a value not already used by lights.pin",
        ),
    ],
)
def test_lights_settings_errors_name_the_key(lights: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_mapping({"lights": lights})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"button": {"pin": 17}, "lights": {"kind": "led", "pin": 17}},
            "lights.pin: expected a value not already used by button.pin",
        ),
        (
            {
                "lights": {"kind": "rgb_led", "pins": [5, 6, 13]},
                "outputs": [{"name": "fan", "kind": "relay", "pin": 6}],
            },
            "outputs[0].pin: expected a value not already used by lights.pins[1]",
        ),
        (
            {"lights": {"kind": "apa102"}, "outputs": [{"name": "lamp", "kind": "led", "pin": 10}]},
            "outputs[0].pin: expected a value not already used by lights.spi_bus (SPI0 MOSI)",
        ),
        (
            {"mute_switch": {"pin": 26}, "lights": {"privacy_pin": 26}},
            "lights.privacy_pin: expected a value not already used by mute_switch.pin",
        ),
    ],
)
def test_lights_pins_may_not_clash_with_the_button_switch_or_outputs(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_mapping(config)


def test_an_apa102_chain_claims_its_spi_bus_pins_and_other_kinds_ignore_pin_and_pins() -> None:
    spi0 = settings_from_mapping({"lights": {"kind": "apa102"}}).lights.pin_keys()
    assert sorted(pin for _, pin in spi0) == [7, 8, 9, 10, 11]
    spi1 = settings_from_mapping({"lights": {"kind": "apa102", "spi_bus": 1, "spi_device": 1}}).lights.pin_keys()
    assert sorted(pin for _, pin in spi1) == [17, 18, 19, 20, 21]
    ignored = settings_from_mapping({"lights": {"kind": "apa102", "pin": 10, "pins": [1, 2, 3]}}).lights
    assert ignored.kind == "apa102"  # pin and pins belong to other kinds and claim nothing here


def test_lights_settings_render_and_load_back(tmp_path: Path) -> None:
    settings = settings_from_mapping({"lights": {"kind": "rgb_led", "pins": [5, 6, 13], "privacy_pin": 26}})
    path = tmp_path / "edge-agent.toml"
    path.write_text(render_settings(settings, None))
    assert load_settings(path).lights == settings.lights


def test_every_lights_field_is_documented_and_in_the_shipped_config() -> None:
    text = SHIPPED.read_text()
    assert "\n[lights]\n" in text
    assert load_settings(SHIPPED).lights == LightsSettings()
    for name, info in LightsSettings.model_fields.items():
        assert info.description and info.description.strip(), name
        assert re.search(rf"^(# )?{name} = ", text, re.MULTILINE), f"lights.{name} missing"


# --- the pin factory ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "model", "expected"),
    [
        ({}, "Raspberry Pi 5 Model B Rev 1.0\0", "lgpio"),
        ({"GPIOZERO_PIN_FACTORY": ""}, "Raspberry Pi 5 Model B Rev 1.1", "lgpio"),
        ({}, "Raspberry Pi Compute Module 5 Rev 1.0", "lgpio"),
        ({}, "Raspberry Pi 500 Rev 1.0", "lgpio"),
        ({}, "Raspberry Pi 4 Model B Rev 1.4\0", None),
        ({}, "Raspberry Pi Zero 2 W Rev 1.0", None),
        ({}, None, None),
        ({}, "QEMU Virtual Machine", None),
        ({"GPIOZERO_PIN_FACTORY": "rpigpio"}, "Raspberry Pi 5 Model B Rev 1.0", None),
        ({"GPIOZERO_PIN_FACTORY": "lgpio"}, "Raspberry Pi 5 Model B Rev 1.0", None),  # gpiozero reads it itself
    ],
    ids=["pi5", "pi5-empty-env", "cm5", "pi500", "pi4", "zero2w", "no-model", "not-a-pi", "user-rpigpio", "user-lgpio"],
)
def test_choose_pin_factory(environ: dict[str, str], model: str | None, expected: str | None) -> None:
    assert choose_pin_factory(environ, model) == expected


def test_read_model_strips_the_nul_and_a_missing_file_is_no_pi(tmp_path: Path) -> None:
    (tmp_path / "model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\0")
    assert read_model(tmp_path / "model") == "Raspberry Pi 5 Model B Rev 1.0"
    assert read_model(tmp_path / "missing") is None


def test_open_pin_factory_by_name() -> None:
    factory = open_pin_factory("mock")
    try:
        assert type(factory).__name__ == "MockFactory"
    finally:
        factory.close()
    with pytest.raises(HardwareError, match="no pin factory named 'nope'"):
        open_pin_factory("nope")
