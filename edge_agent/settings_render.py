"""Settings rendering: the effective configuration as commented TOML, for ``edge-agent check-config``.

The output is a complete config file that ``load_settings`` accepts back unchanged: every section and
key, each field's docstring as a comment, paths absolute. The API key is named only by where it came from.
Import ``render_settings`` from ``edge_agent.settings``, which re-exports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from edge_agent.api_key import CREDENTIAL_NAME
from edge_agent.settings_errors import user_keys

if TYPE_CHECKING:
    from edge_agent.api_key import ApiKey
    from edge_agent.settings import Settings

_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def render_settings(settings: Settings, api_key: ApiKey | None) -> str:
    """Return the effective configuration as TOML that ``load_settings`` accepts back unchanged.

    Every section and key, each field's docstring as a comment, paths absolute. The API key itself
    never appears, only where it came from.
    """
    if api_key is not None:
        key_line = f"# api key: {api_key.source} (redacted)"
    else:
        key_line = (
            f"# api key: none found (looked in $CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}, "
            "live.api_key_file, $GEMINI_API_KEY)"
        )
    lines = ["# edge-agent effective configuration", f"# source: {settings.source}", key_line, ""]
    model = type(settings)
    for name in user_keys(model):
        lines += _comment(model.model_fields[name].description)
        value = getattr(settings, name)
        if isinstance(value, tuple):  # an array of tables, e.g. [[outputs]]
            lines += ["# (none)", ""] if not value else []
            for table in value:
                lines += [f"[[{name}]]", *_render_fields(table)]
        else:
            lines += [f"[{name}]", *_render_fields(value)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _comment(text: str | None) -> list[str]:
    return [f"# {line}".rstrip() for line in (text or "").splitlines()]


def _render_fields(section: BaseModel) -> list[str]:
    lines: list[str] = []
    for name, info in type(section).model_fields.items():
        value = getattr(section, name)
        lines += _comment(info.description)
        if value is None and "Path" in str(info.annotation):
            lines.append(f'{name} = ""')
        elif value is None:
            lines.append(f"# {name} = (not set)")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")
    return lines


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        text = "".join(
            _TOML_ESCAPES.get(char) or (f"\\u{ord(char):04x}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
            for char in str(value)
        )
        return f'"{text}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")
