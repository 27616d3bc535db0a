"""Settings errors: pydantic and tomllib failures turned into one readable :class:`ConfigError`.

The settings models (``edge_agent.settings``) validate; this module explains. A pydantic
``ValidationError`` becomes the first problem in file order, named by its dotted key (``outputs[1].pin``),
with what the field allows in words ("an integer between 0 and 27") and a count of the other problems.
A TOML syntax error names the key on the offending line, qualified by its table, or else the line number.

Generic over the model tree: nothing here imports the settings models, so they can import it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from edge_agent.errors import ConfigError


class Expect:
    """Annotation marker: the human text for what a field allows, when the type alone cannot say it."""

    def __init__(self, text: str) -> None:
        self.text = text


def show(value: object, limit: int = 60) -> str:
    """Return ``repr(value)``, cut to ``limit`` characters with "..." when longer."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def user_keys(model: type[BaseModel]) -> list[str]:
    """Return the keys a config file may set in ``model``: every field not excluded from dumps."""
    return [name for name, info in model.model_fields.items() if not info.exclude]


def unknown_key(name: str, model: type[BaseModel]) -> str:
    """Describe the unknown key ``name`` in ``model``: the closest known key, then all of them."""
    known = user_keys(model)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {name!r} ({hint}known keys: {', '.join(known)})"


def duplicate_error(key: str, first: str, value: object) -> PydanticCustomError:
    """Return the error a model validator raises when ``key`` repeats the value already at ``first``."""
    expected = f"a value not already used by {first}"
    return PydanticCustomError(
        "duplicate", "{key}: expected {expected}", {"key": key, "expected": expected, "found": show(value)}
    )


# --- TOML syntax errors ----------------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=")


def toml_error(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    """Name the key on the offending line (qualified by its table) or else the line number."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    match = _TOML_POSITION.search(str(exc))
    lineno = int(match[1]) if match else len(text.rstrip().split("\n"))  # "at end of document"
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    key = f"line {lineno}"
    if key_match := _TOML_KEY.match(line):
        table, counts = "", dict[str, int]()
        for previous in lines[: lineno - 1]:
            if header := _TOML_HEADER.match(previous):
                table = header[2]
                if header[1] == "[[":
                    counts[table] = counts.get(table, -1) + 1
                    table = f"{table}[{counts[table]}]"
        name = re.sub(r"\s*\.\s*", ".", key_match[1])
        key = f"{table}.{name}" if table else name
    return ConfigError(file, key, "valid TOML", f"{exc}: line {lineno}: {show(line)}")


# --- Validation errors ------------------------------------------------------------------------------------


def validation_error(file: str, exc: ValidationError, data: Mapping[str, Any], root: type[BaseModel]) -> ConfigError:
    """Report the first problem in file order, with a note naming the others.

    ``data`` is the input ``root`` was validated from; its (TOML) key order decides which problem is first.
    """
    problems: dict[str, tuple[tuple[int, ...], str, str]] = {}
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "duplicate":
            key, expected, found = ctx["key"], ctx["expected"], ctx["found"]
        else:
            key, tp, meta, parent = _walk(err["loc"], root)
            if parent is not None:
                name = str(err["loc"][-1])
                where = f"a known key in {_section(key)}" if parent is not root else "a known section name"
                expected, found = where, unknown_key(name, parent)
            elif err["type"] == "missing":
                expected, found = (f"{_describe(tp, meta)} (this key is required)", "nothing (the key is missing)")
            else:
                expected, found = _describe(tp, meta), show(err["input"])
        problems.setdefault(key, (_file_order(err["loc"], data), expected, found))
    ordered = sorted(problems.items(), key=lambda item: item[1][0])
    key, (_, expected, found) = ordered[0]
    if rest := [other for other, _ in ordered[1:]]:
        more = ", ".join(rest[:3]) + (", ..." if len(rest) > 3 else "")
        found += f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''}: {more})"
    return ConfigError(file, key, expected, found)


def _section(key: str) -> str:
    """The TOML table header holding ``key``: ``[live]`` for ``live.x``, ``[[outputs]]`` for ``outputs[1].x``."""
    table = key.rpartition(".")[0]
    element = re.fullmatch(r"(.*)\[\d+\]", table)
    return f"[[{element[1]}]]" if element else f"[{table}]"


def _walk(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[str, Any, list[Any], type[BaseModel] | None]:
    """Follow ``loc`` through the models: (dotted key, annotation, metadata, parent model if unknown key)."""
    key, meta = "", list[Any]()
    tp: Any = None
    model: type[BaseModel] | None = root
    for item in loc:
        if model is not None and isinstance(item, str):
            if item not in model.model_fields:
                return f"{key}.{item}" if key else item, None, [], model
            info = model.model_fields[item]
            key, tp, meta = f"{key}.{item}" if key else item, info.annotation, list(info.metadata)
        elif isinstance(item, int) and get_origin(tp) is tuple:
            key, tp, meta = f"{key}[{item}]", get_args(tp)[0], []
        else:
            break  # a union member tag or similar: the field itself is the key
        model = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
    return key or "(top level)", tp, meta, None


def _describe(tp: Any, meta: Sequence[Any]) -> str:
    """Say in words what a field of type ``tp`` with constraints ``meta`` accepts."""
    if get_origin(tp) is Annotated:
        base, *extra = get_args(tp)
        return _describe(base, [*meta, *extra])
    meta = [m for item in meta for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
    if texts := [m.text for m in meta if isinstance(m, Expect)]:
        return texts[0]
    if get_origin(tp) in (Union, types.UnionType):
        return _describe(next(a for a in get_args(tp) if a is not type(None)), meta)
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) is tuple:
        element = get_args(tp)[0]
        if isinstance(element, type) and issubclass(element, BaseModel):
            return "an array of tables"
        return f"a list, each item {_describe(element, [])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a table"
    if tp is bool:
        return "a boolean (true or false)"
    if tp is str:
        return "a non-empty string" if any(isinstance(m, MinLen) for m in meta) else "a string"
    noun = {int: "an integer", float: "a number"}.get(tp, str(tp))
    bounds = {op: getattr(m, attr) for m in meta for kind, attr, op in _BOUNDS if isinstance(m, kind)}
    if ">=" in bounds and "<=" in bounds:
        return f"{noun} between {bounds['>=']} and {bounds['<=']}"
    return " and ".join(f"{op} {value}" for op, value in bounds.items()).join([f"{noun} ", ""]).strip()


_BOUNDS = ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="), (Lt, "lt", "<"))


def _file_order(loc: tuple[int | str, ...], data: object) -> tuple[int, ...]:
    """Position of ``loc`` in the input (dicts keep TOML order); missing parts sort last."""
    order: list[int] = []
    for item in loc:
        if isinstance(data, Mapping) and item in data:
            order.append(list(data).index(item))
            data = data[item]
        elif isinstance(data, list | tuple) and isinstance(item, int) and item < len(data):
            order.append(item)
            data = data[item]
        else:
            order.append(1 << 30)
            data = None
    return tuple(order)
