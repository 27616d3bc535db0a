from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pydantic
import pytest

from edge_agent.settings import (
    DEFAULT_CONFIG_PATH,
    AudioSettings,
    ButtonSettings,
    HardwareSettings,
    ListeningSettings,
    LiveSettings,
    OutputSettings,
    Settings,
    SimulatedSettings,
    config_path,
    load_settings,
    render_settings,
    settings_from_mapping,
)

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "edge-agent.toml"
MODELS: list[type[pydantic.BaseModel]] = [
    Settings,
    LiveSettings,
    HardwareSettings,
    AudioSettings,
    ListeningSettings,
    ButtonSettings,
    SimulatedSettings,
    OutputSettings,
]


def write(tmp_path: Path, text: str, name: str = "edge-agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- Loading: the happy path ------------------------------------------------------------------------------


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings == Settings()
    assert settings.source == str(tmp_path / "edge-agent.toml")
    assert settings.button.pin is None
    assert settings.outputs == ()
    assert settings.listening.mode == "on_wake"


def test_full_file_is_typed(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            """
            [listening]
            idle_timeout_s = 3          # an int where a float is expected is fine
            [simulated]
            button_presses_s = [1, 2.5]
            [[outputs]]
            name = "fan"
            kind = "relay"
            pin = 22
            active_high = false
            """,
        )
    )
    assert settings.listening.idle_timeout_s == 3.0
    assert settings.simulated.button_presses_s == (1.0, 2.5)
    assert settings.outputs == (
        OutputSettings(name="fan", kind="relay", pin=22, description="", active_high=False, initial=False),
    )


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.live.model = "other"


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = write(
        tmp_path / "etc",
        """
        [live]
        api_key_file = "keys/api-key"
        ca_file = "/opt/ca.pem"
        [simulated]
        mic_wav = "../audio/question.wav"
        speaker_wav = ""
        """,
    )
    settings = load_settings(path)
    assert settings.live.api_key_file == tmp_path / "etc" / "keys" / "api-key"
    assert settings.live.ca_file == Path("/opt/ca.pem")
    assert settings.simulated.mic_wav == tmp_path / "etc" / ".." / "audio" / "question.wav"
    assert settings.simulated.speaker_wav is None
    assert settings.simulated.gpio_log is None


def test_settings_from_mapping_resolves_against_base_dir(tmp_path: Path) -> None:
    settings = settings_from_mapping({"simulated": {"gpio_log": "gpio.jsonl"}}, base_dir=tmp_path)
    assert settings.simulated.gpio_log == tmp_path / "gpio.jsonl"
    assert settings.source == "<built-in>"


def test_config_path_precedence() -> None:
    env = {"EDGE_AGENT_CONFIG": "/env.toml"}
    assert config_path("/cli.toml", env) == Path("/cli.toml")
    assert config_path(None, env) == Path("/env.toml")
    assert config_path(None, {}) == DEFAULT_CONFIG_PATH
    assert config_path(None, {"EDGE_AGENT_CONFIG": ""}) == DEFAULT_CONFIG_PATH


# --- Rendering ----------------------------------------------------------------------------------------------


def test_render_round_trip(tmp_path: Path) -> None:
    original = settings_from_mapping(
        {
            "live": {
                "system_instruction": 'Say "hi"\tthen\\stop\nnew line é \x7f \x01',
                "api_key_file": "api-key",
                "language_code": "en-US",
            },
            "hardware": {"backend": "simulated"},
            "listening": {"mode": "always", "idle_timeout_s": 1e-3},
            "button": {"pin": 5, "pull_up": False},
            "simulated": {"mic_wav": "in.wav", "button_presses_s": [0, 1.5, 1e20]},
            "outputs": [
                {"name": "lamp", "kind": "led", "pin": 17, "description": "Lamp ['x']"},
                {"name": "fan", "kind": "relay", "pin": 22, "active_high": False, "initial": True},
            ],
        },
        base_dir=tmp_path,
    )
    text = render_settings(original, None)
    assert "# api key: none found (looked in" in text
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    loaded = load_settings(write(elsewhere, text, "rendered.toml"))
    assert loaded == original
    assert loaded.model_dump() == original.model_dump()
    assert loaded.source != original.source
    assert loaded.simulated.mic_wav == tmp_path / "in.wav"
    assert hash(loaded) == hash(original)


def test_render_defaults_round_trip_and_shows_unset_pin(tmp_path: Path) -> None:
    text = render_settings(Settings(), None)
    assert "# pin = (not set)" in text
    assert load_settings(write(tmp_path, text)) == Settings()


def test_render_comments_every_field_with_its_docstring() -> None:
    text = render_settings(settings_from_mapping({"outputs": [{"name": "a", "kind": "led", "pin": 1}]}), None)
    for model in MODELS[1:]:
        for name, info in model.model_fields.items():
            assert info.description is not None
            comment = "".join(f"# {line.strip()}\n" for line in info.description.splitlines())
            assert f"{comment}{name} = " in text or f"{comment}# {name} = " in text


# --- The shipped config and the docstrings ------------------------------------------------------------


def test_shipped_config_loads_and_mentions_every_field() -> None:
    settings = load_settings(SHIPPED)
    text = SHIPPED.read_text()
    assert settings.hardware.backend == "pi"
    assert settings.button.pin == 27
    assert [(o.name, o.kind, o.pin) for o in settings.outputs] == [("kitchen_light", "led", 17), ("fan", "relay", 22)]
    assert re.search(r"^# active_high = false$", text, re.MULTILINE)
    for section in ("live", "hardware", "audio", "listening", "button", "simulated"):
        assert f"\n[{section}]\n" in text
        for name in Settings.model_fields[section].annotation.model_fields:  # type: ignore[union-attr]
            assert re.search(rf"^(# )?{name} = ", text, re.MULTILINE), f"{section}.{name} missing"
    for name in OutputSettings.model_fields:
        assert re.search(rf"^{name} = ", text, re.MULTILINE), f"outputs.{name} missing"


def test_shipped_config_renders_and_loads_back(tmp_path: Path) -> None:
    shipped = load_settings(SHIPPED)
    assert load_settings(write(tmp_path, render_settings(shipped, None))) == shipped


def test_shipped_config_defaults_match_the_models() -> None:
    shipped = load_settings(SHIPPED)
    assert shipped.live == LiveSettings()
    assert shipped.audio == AudioSettings()
    assert shipped.listening == ListeningSettings()
    assert shipped.simulated == SimulatedSettings()


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_field_has_a_description(model: type[pydantic.BaseModel]) -> None:
    assert model.__doc__
    for name, info in model.model_fields.items():
        assert info.description and info.description.strip(), f"{model.__name__}.{name} has no docstring"
