"""The model's tools: declarations generated from ``[[outputs]]``, validated calls, GPIO actions.

Each tool's arguments are a pydantic model; the declaration the model sees is derived
from the same model's JSON schema, so what is declared is exactly what is accepted.
A call is validated before it touches a pin: a bad call gets a response with an
``error`` the model can read and changes nothing. A good call reports the pin's
real state afterwards. Calls are idempotent ("turn on" twice leaves it on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model

from edge_agent.events import ToolCall, ToolResult

_LOGGER = logging.getLogger(__name__)


class OutputPort(Protocol):
    """What the tools need from the outputs (see :class:`edge_agent.hardware.gpio.Outputs`)."""

    def names(self) -> list[str]:
        """Output names in config order."""

    def state(self, name: str) -> bool:
        """Real state read back from the pin."""

    def set(self, name: str, on: bool) -> bool:
        """Switch; True if the pin changed."""

    def snapshot(self) -> dict[str, bool]:
        """Every output's real state."""

    def settings(self, name: str) -> Any:
        """The output's configuration (``kind``, ``description``, ``pin``)."""


@dataclass(frozen=True)
class ToolSpec:
    """A function declaration: ``parameters`` is an OpenAPI-subset schema (or None)."""

    name: str
    description: str
    parameters: Mapping[str, Any] | None


class _NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _openapi(schema: Mapping[str, Any]) -> dict[str, Any]:
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
        out["properties"] = {name: _openapi(sub) for name, sub in schema["properties"].items()}
    return out


def _explain(error: ValidationError) -> str:
    """One readable line per problem, e.g. ``name: Input should be 'a' or 'b' (got 'c')``."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "arguments"
        got = "" if e["type"] == "missing" else f" (got {e['input']!r})"
        parts.append(f"{where}: {e['msg']}{got}")
    return "; ".join(parts)


class ToolBox:
    """Declares the tools and runs calls against the outputs. Thread: event loop only."""

    def __init__(self, outputs: OutputPort) -> None:
        self._outputs = outputs
        self._handlers: dict[str, tuple[type[BaseModel], Callable[[Any], dict[str, Any]]]] = {}
        self.specs: list[ToolSpec] = []
        names = outputs.names()
        if not names:
            return
        catalogue = "; ".join(f"{n}: {outputs.settings(n).description or outputs.settings(n).kind}" for n in names)
        set_args = create_model(
            "SetOutputArgs",
            __config__=ConfigDict(extra="forbid"),
            name=(Literal[tuple(names)], Field(description="Which output to switch.")),  # type: ignore[arg-type]
            on=(StrictBool, Field(description="true switches it on, false switches it off.")),
        )
        self._add(
            "set_output",
            f"Switch one of this device's outputs on or off. Outputs: {catalogue}.",
            set_args,
            self._set_output,
        )
        self._add(
            "get_outputs",
            "Report whether each of this device's outputs is on or off right now.",
            _NoArgs,
            self._get_outputs,
        )

    def _add(self, name: str, description: str, model: type[BaseModel], run: Callable[[Any], dict[str, Any]]) -> None:
        schema = model.model_json_schema()
        parameters = _openapi(schema) if schema.get("properties") else None
        self.specs.append(ToolSpec(name, description, parameters))
        self._handlers[name] = (model, run)

    def call(self, call: ToolCall) -> ToolResult:
        """Validate and run one call; never raises. The result carries the same id and name."""
        handler = self._handlers.get(call.name)
        if handler is None:
            known = ", ".join(self._handlers) or "none"
            return self._error(call, f"unknown function {call.name!r}; available: {known}")
        model, run = handler
        try:
            args = model.model_validate(dict(call.args))
        except ValidationError as e:
            return self._error(call, f"invalid arguments: {_explain(e)}")
        try:
            response = run(args)
        except Exception as e:  # a GPIO fault is reported to the model, not raised into the loop
            _LOGGER.exception("tool %s failed", call.name)
            return self._error(call, f"the device failed to do it: {e}")
        _LOGGER.info("tool %s(%s) -> %s", call.name, dict(call.args), response, extra={"TOOL": call.name})
        return ToolResult(call.id, call.name, response)

    def _error(self, call: ToolCall, message: str) -> ToolResult:
        _LOGGER.warning("tool %s(%s) refused: %s", call.name, dict(call.args), message, extra={"TOOL": call.name})
        return ToolResult(call.id, call.name, {"error": message})

    def _set_output(self, args: Any) -> dict[str, Any]:
        changed = self._outputs.set(args.name, args.on)
        state = self._outputs.state(args.name)
        return {"output": args.name, "on": state, "changed": changed}

    def _get_outputs(self, _args: Any) -> dict[str, Any]:
        return {"outputs": self._outputs.snapshot()}
