from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from edge_agent.errors import ConfigError
from edge_agent.settings import ApiKey, Settings, load_api_key, render_settings, settings_from_mapping

SECRET = "AIzaSy-very-secret-key-0123456789"


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
