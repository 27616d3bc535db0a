"""Shared building blocks of the settings models: field types, path resolution, the section base.

Every section is a frozen pydantic model that rejects unknown keys, does not coerce types, and
takes each field's docstring as its description (shown by ``check-config`` and the shipped config).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from edge_agent.settings_errors import Expect


def _as_tuple(value: object) -> object:
    """TOML arrays arrive as lists; the frozen models hold tuples."""
    return tuple(value) if isinstance(value, list) else value


def _resolve_path(value: object, info: ValidationInfo) -> object:
    """``""`` → None; a relative path → absolute, against ``context["base_dir"]`` (default: cwd)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise PydanticCustomError("path_type", "Input should be a path string")
    path = Path(value)
    if path.is_absolute():
        return path
    base = (info.context or {}).get("base_dir") or Path.cwd()
    return Path(base).absolute() / path


Pin = Annotated[int, Field(ge=0, le=27)]
NonEmpty = Annotated[str, Field(min_length=1)]
OptionalPath = Annotated[
    Path | None,
    BeforeValidator(_resolve_path),
    Expect('a path string ("" = not set; relative paths are relative to the config file\'s directory)'),
]
OutputName = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
    Expect("a lowercase letter followed by up to 39 lowercase letters, digits or _ (^[a-z][a-z0-9_]{0,39}$)"),
]


class _Section(BaseModel):
    """Shared config: frozen, unknown keys rejected, no type coercion, docstrings as descriptions."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True, allow_inf_nan=False
    )
