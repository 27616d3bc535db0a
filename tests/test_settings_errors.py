from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge_agent.errors import ConfigError
from edge_agent.settings import load_settings, settings_from_mapping


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
            "unknown key 'colour' (known keys: name, kind, pin, pins, description, active_high, initial, safe, "
            "max_on_s, min_interval_s, interlock)",
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
            "one of 'led', 'relay', 'pwm_led', 'rgb_led', 'buzzer' (this key is required)",
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
