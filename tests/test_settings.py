from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pydantic
import pytest

from edge_agent.errors import ConfigError
from edge_agent.settings import (
    DEFAULT_CONFIG_PATH,
    ApiKey,
    AudioSettings,
    ButtonSettings,
    HardwareSettings,
    ListeningSettings,
    LiveSettings,
    OutputSettings,
    Settings,
    SimulatedSettings,
    config_path,
    load_api_key,
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
SECRET = "AIzaSy-very-secret-key-0123456789"


def write(tmp_path: Path, text: str, name: str = "edge-agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.file == str(path)
    return info.value


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


# --- Loading: each kind of mistake ------------------------------------------------------------------------


def test_bad_toml_names_the_key_on_the_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[live]\nvoice = 'Puck'\nmodel = gemini\n")
    assert error.key == "live.model"
    assert error.expected == "valid TOML"
    assert error.found.endswith("line 3: 'model = gemini'")
    assert "Invalid value" in error.found


def test_bad_toml_in_second_outputs_entry(tmp_path: Path) -> None:
    text = "[[outputs]]\nname = 'a'\n[[outputs]]\npin = 1 2\n"
    assert error_for(tmp_path, text).key == "outputs[1].pin"


def test_bad_toml_without_a_key_names_the_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[live]\n[audio\n")
    assert error.key == "line 2"
    assert "line 2: '[audio'" in error.found


@pytest.mark.parametrize(
    ("text", "key", "expected", "found"),
    [
        pytest.param(
            "[live]\nmodle = 'x'\n",
            "live.modle",
            "a known key in [live]",
            "unknown key 'modle' (did you mean 'model'? known keys: model, base_url,",
            id="unknown-key-in-section",
        ),
        pytest.param(
            "[lvie]\nmodel = 'x'\n",
            "lvie",
            "a known section name",
            "unknown key 'lvie' (did you mean 'live'? known keys: live, hardware, audio,",
            id="unknown-section",
        ),
        pytest.param(
            "source = 'x'\n",
            "source",
            "a known section name",
            "unknown key 'source' (known keys: live, hardware,",
            id="source-is-not-settable",
        ),
        pytest.param(
            "[[outputs]]\nname = 'a'\nkind = 'led'\npin = 4\ncolour = 'red'\n",
            "outputs[0].colour",
            "a known key in [[outputs]]",
            "unknown key 'colour' (known keys: name, kind, pin, description, active_high, initial)",
            id="unknown-key-in-outputs",
        ),
        pytest.param(
            "[audio]\nperiod_ms = '10'\n", "audio.period_ms", "an integer between 5 and 50", "'10'", id="str-for-int"
        ),
        pytest.param(
            "[button]\npull_up = 'yes'\n", "button.pull_up", "a boolean (true or false)", "'yes'", id="str-for-bool"
        ),
        pytest.param(
            "[audio]\ncapture_channels = true\n",
            "audio.capture_channels",
            "an integer between 1 and 8",
            "True",
            id="bool-for-int",
        ),
        pytest.param(
            "[listening]\nmode = 'sometimes'\n",
            "listening.mode",
            "one of 'always', 'on_wake'",
            "'sometimes'",
            id="enum",
        ),
        pytest.param("[audio]\nchunk_ms = 25\n", "audio.chunk_ms", "one of 20, 30, 40", "25", id="int-enum"),
        pytest.param(
            "[audio]\nprebuffer_ms = 2001\n", "audio.prebuffer_ms", "an integer between 0 and 2000", "2001", id="range"
        ),
        pytest.param(
            "[listening]\nidle_timeout_s = 0\n",
            "listening.idle_timeout_s",
            "a number > 0 and <= 300",
            "0",
            id="float-range",
        ),
        pytest.param(
            "[listening]\nidle_timeout_s = nan\n",
            "listening.idle_timeout_s",
            "a number > 0 and <= 300",
            "nan",
            id="nan",
        ),
        pytest.param("[button]\npin = 28\n", "button.pin", "an integer between 0 and 27", "28", id="button-pin"),
        pytest.param(
            "[simulated]\nbutton_presses_s = [1.0, -2]\n",
            "simulated.button_presses_s[1]",
            "a number >= 0",
            "-2",
            id="list-item",
        ),
        pytest.param(
            "[simulated]\nmic_wav = 3\n", "simulated.mic_wav", 'a path string ("" = not set', "3", id="path-type"
        ),
        pytest.param(
            "[live]\nbase_url = 'ftp://example.com'\n",
            "live.base_url",
            '"" or a URL starting with http:// or https://',
            "'ftp://example.com'",
            id="base-url",
        ),
        pytest.param("[live]\nmodel = ''\n", "live.model", "a non-empty string", "''", id="empty-string"),
        pytest.param("live = 3\n", "live", "a table", "3", id="section-not-a-table"),
        pytest.param("[outputs]\nname = 'a'\n", "outputs", "an array of tables", "{'name': 'a'}", id="outputs-table"),
        pytest.param(
            "[[outputs]]\nname = 'Kitchen Light'\nkind = 'led'\npin = 4\n",
            "outputs[0].name",
            "a lowercase letter followed by up to 39 lowercase letters, digits or _",
            "'Kitchen Light'",
            id="output-name",
        ),
        pytest.param(
            "[[outputs]]\nname = 'a'\npin = 4\n",
            "outputs[0].kind",
            "one of 'led', 'relay' (this key is required)",
            "nothing (the key is missing)",
            id="output-missing-key",
        ),
        pytest.param(
            "[[outputs]]\nname = 'lamp'\nkind = 'led'\npin = 4\n[[outputs]]\nname = 'lamp'\nkind = 'led'\npin = 5\n",
            "outputs[1].name",
            "a value not already used by outputs[0].name",
            "'lamp'",
            id="duplicate-name",
        ),
        pytest.param(
            "[[outputs]]\nname = 'a'\nkind = 'led'\npin = 4\n[[outputs]]\nname = 'b'\nkind = 'led'\npin = 4\n",
            "outputs[1].pin",
            "a value not already used by outputs[0].pin",
            "4",
            id="duplicate-pin",
        ),
        pytest.param(
            "[button]\npin = 17\n[[outputs]]\nname = 'lamp'\nkind = 'led'\npin = 17\n",
            "outputs[0].pin",
            "a value not already used by button.pin",
            "17",
            id="pin-clash-with-button",
        ),
    ],
)
def test_each_mistake_names_key_expected_and_found(
    tmp_path: Path, text: str, key: str, expected: str, found: str
) -> None:
    error = error_for(tmp_path, text)
    assert (error.key, error.found[: len(found)]) == (key, found)
    assert error.expected.startswith(expected)
    assert str(error).startswith(f"{tmp_path / 'edge-agent.toml'}: {key}: expected ")


def test_first_error_in_file_order_and_count_of_others(tmp_path: Path) -> None:
    text = """
        [listening]
        mode = "sometimes"
        [audio]
        prebuffer_ms = -1
        chunk_ms = 25
        [live]
        voice = ""
        """
    error = error_for(tmp_path, text)
    assert error.key == "listening.mode"
    assert error.found == ("'sometimes' (and 3 more problems: audio.prebuffer_ms, audio.chunk_ms, live.voice)")


def test_long_values_are_truncated(tmp_path: Path) -> None:
    error = error_for(tmp_path, f"[audio]\ncapture_rate = '{'x' * 200}'\n")
    assert len(error.found) <= 60
    assert error.found.endswith("...")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml")
    assert (info.value.key, info.value.found) == ("(file)", "no such file")
    assert info.value.exit_code == 78


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert (info.value.key, info.value.found) == ("(file)", "a directory")


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"[live]\nvoice = '\xff'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert (info.value.key, info.value.expected) == ("line 2", "UTF-8 text")


def test_settings_from_mapping_rejects_non_mapping() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping([1, 2])  # type: ignore[arg-type]
    assert info.value.key == "(top level)"


# --- The API key ------------------------------------------------------------------------------------------


def key_settings(tmp_path: Path, key_file: str = "api-key") -> Settings:
    return settings_from_mapping({"live": {"api_key_file": key_file}}, source="test.toml", base_dir=tmp_path)


def test_api_key_precedence_credential_then_file_then_env(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "gemini-api-key").write_text("from-credential\n")
    (tmp_path / "api-key").write_text("  from-file \n")
    settings = key_settings(tmp_path)
    env = {"CREDENTIALS_DIRECTORY": str(creds), "GEMINI_API_KEY": "from-env"}

    key = load_api_key(settings, env)
    assert key is not None
    assert (key.source, key.reveal()) == ("systemd credential gemini-api-key", "from-credential")

    (creds / "gemini-api-key").unlink()  # a credentials directory without our credential is skipped
    key = load_api_key(settings, env)
    assert key is not None
    assert (key.source, key.reveal()) == (f"live.api_key_file ({tmp_path / 'api-key'})", "from-file")

    key = load_api_key(Settings(), env)
    assert key is not None
    assert (key.source, key.reveal()) == ("$GEMINI_API_KEY", "from-env")


def test_no_api_key_anywhere_is_none() -> None:
    assert load_api_key(Settings(), {}) is None
    assert load_api_key(Settings(), {"GEMINI_API_KEY": "  "}) is None


@pytest.mark.parametrize(
    ("make", "found"),
    [
        pytest.param(lambda path: None, "no such file", id="missing"),
        pytest.param(lambda path: path.mkdir(), "a directory", id="directory"),
        pytest.param(lambda path: path.write_bytes(b"\xff\xfe"), "a file that is not UTF-8 text", id="not-utf8"),
        pytest.param(lambda path: path.write_text(" \n"), "an empty file", id="empty"),
        pytest.param(lambda path: path.write_text("two\nlines\n"), "a file with whitespace", id="two-lines"),
    ],
)
def test_bad_api_key_file(tmp_path: Path, make: object, found: str) -> None:
    make(tmp_path / "api-key")  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        load_api_key(key_settings(tmp_path), {"GEMINI_API_KEY": "not used"})
    assert (info.value.file, info.value.key) == ("test.toml", "live.api_key_file")
    assert info.value.found.startswith(found)


def test_unreadable_credential(tmp_path: Path) -> None:
    (tmp_path / "gemini-api-key").mkdir()
    with pytest.raises(ConfigError) as info:
        load_api_key(Settings(), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert info.value.key == "$CREDENTIALS_DIRECTORY/gemini-api-key"


def test_api_key_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "api-key").write_text(SECRET)
    settings = key_settings(tmp_path)
    key = load_api_key(settings, {})
    assert key is not None and key.reveal() == SECRET
    for text in (repr(key), str(key), f"{key}", render_settings(settings, key)):
        assert SECRET not in text
    assert "api key: live.api_key_file" in render_settings(settings, key)
    assert ApiKey("x", pydantic.SecretStr(SECRET)) == key.__class__("x", pydantic.SecretStr(SECRET))


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
            assert f"# {info.description.splitlines()[0]}\n{name} = " in text or f"# {name} = " in text


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
            assert re.search(rf"^{name} = ", text, re.MULTILINE), f"{section}.{name} missing"
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
