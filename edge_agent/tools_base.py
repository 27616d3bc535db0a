"""What every tool shares: declarations, replies, the undo journal, schema and error wording.

:mod:`edge_agent.tools` (the outputs) and :mod:`edge_agent.tools_builtin` (status, volume,
camera) build on these; import them from :mod:`edge_agent.tools`, which re-exports them.
Pure: no I/O, no hardware.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from edge_agent.errors import EdgeAgentError, HardwareError

_LOGGER = logging.getLogger("edge_agent.tools")


class ToolRefused(EdgeAgentError, ValueError):
    """A call that cannot be done now (no camera frame, no such capability); nothing was changed."""


@dataclass(frozen=True)
class ToolSpec:
    """A function declaration: ``parameters`` is an OpenAPI-subset schema (or None)."""

    name: str
    description: str
    parameters: Mapping[str, Any] | None


@dataclass(frozen=True)
class Change:
    """One thing a call changed, and how to undo it (see :meth:`Journal.cancel`)."""

    subject: str
    """What changed, for the log: ``"kitchen_light"``, ``"the volume"``."""
    before: str
    """How it was before the call, for the log: ``"off"``, ``"40 %"``."""
    still_set: Callable[[], bool]
    """True while the subject still shows what the call set (reads the device)."""
    revert: Callable[[], object]
    """Put back how it was; raises (e.g. OutputRefused) when that is not allowed now."""


@dataclass(frozen=True)
class Reply:
    """What a handler returns: the response for the model, and what it changed (for undo)."""

    response: dict[str, Any]
    changes: tuple[Change, ...] = ()


Handler = Callable[[Any], Reply]
"""Runs one validated call (``args`` is an instance of the tool's model).

Raising ToolRefused or OutputRefused (a refusal) or HardwareError (a device fault) answers the
model with an ``error``; any other exception is logged with its traceback and answered the same way.
"""


class Journal:
    """The last ``size`` calls that ran, by id, with what each changed. Thread: event loop only."""

    def __init__(self, size: int = 64, refusals: tuple[type[Exception], ...] = (ToolRefused,)) -> None:
        self.size = size
        self._refusals: tuple[type[Exception], ...] = (*refusals, HardwareError)
        self._calls: OrderedDict[str, tuple[str, tuple[Change, ...]]] = OrderedDict()

    def record(self, call_id: str, name: str, changes: tuple[Change, ...]) -> None:
        """Remember that call ``call_id`` (function ``name``) ran and changed ``changes``; forget the oldest."""
        self._calls[call_id] = (name, changes)
        self._calls.move_to_end(call_id)
        while len(self._calls) > self.size:
            self._calls.popitem(last=False)

    def cancel(self, ids: Iterable[str]) -> list[str]:
        """Undo the calls ``ids``; return one line per call or change, for the log. Never raises.

        Changes are undone newest first, each only if its subject still shows what the call set;
        one that changed since is left alone and the line says so, as does an undo that is refused.
        Idempotent: a call is undone at most once.
        """
        ids = list(dict.fromkeys(ids))
        lines = [
            f"cancelled call {i}: nothing to undo (not a call that ran, or older than the last {self.size} calls)"
            for i in ids
            if i not in self._calls
        ]
        for call_id in reversed([i for i in self._calls if i in ids]):
            name, changes = self._calls.pop(call_id)
            prefix = f"cancelled call {call_id} ({name})"
            if not changes:
                lines.append(f"{prefix}: it changed nothing")
            lines.extend(self._undo(prefix, change) for change in reversed(changes))
        return lines

    def _undo(self, prefix: str, change: Change) -> str:
        try:
            if not change.still_set():
                return f"{prefix}: left {change.subject} as it is: it changed since the call"
            change.revert()
        except self._refusals as e:
            return f"{prefix}: could not put {change.subject} back to {change.before}: {e}"
        except Exception as e:  # an undo must never take the loop down; the log says what failed
            _LOGGER.exception("undo of %s failed", change.subject)
            return f"{prefix}: could not put {change.subject} back to {change.before}: {e}"
        return f"{prefix}: {change.subject} back to {change.before}"


class NoArgs(BaseModel):
    """Arguments of a tool that takes none (any key is refused)."""

    model_config = ConfigDict(extra="forbid")


def whole_number(value: object) -> object:
    """Let 3.0 count as 3 (JSON numbers from the model may come as floats); leave the rest to validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def openapi(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Turn pydantic's JSON schema into the Live API's schema dialect (types in capitals)."""
    out: dict[str, Any] = {}
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key in ("description", "enum", "minimum", "maximum", "required"):
        if key in schema:
            out[key] = schema[key]
    if "type" in schema:
        out["type"] = str(schema["type"]).upper()
    if "properties" in schema:
        out["properties"] = {name: openapi(sub) for name, sub in schema["properties"].items()}
    return out


def explain(error: ValidationError) -> str:
    """One readable line per problem, e.g. ``name: Input should be 'a' or 'b' (got 'c')``."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "arguments"
        got = "" if e["type"] == "missing" else f" (got {e['input']!r})"
        parts.append(f"{where}: {e['msg']}{got}")
    return "; ".join(parts)
