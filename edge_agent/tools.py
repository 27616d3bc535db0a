"""The model's tools: declarations generated from ``[[outputs]]``, validated calls, an undo journal.

Each tool's arguments are a pydantic model; the declaration the model sees is derived
from the same model's JSON schema, so what is declared is exactly what is accepted
(enums of output names per capability, ranges as ``minimum``/``maximum``). A call is
validated before it touches a pin: a bad call, an unknown name, a value out of range or
a switch the safety rules refuse (interlock, ``min_interval_s``) gets a response with an
``error`` the model can read and changes nothing. A good call reports the output's real
state afterwards, read back from its pins. Calls are idempotent ("turn on" twice leaves it
on; ``beep`` restarts its sequence).

From the outputs: ``set_output(name, on)`` and ``get_outputs()`` always, ``set_brightness``
(pwm_led, rgb_led), ``set_color`` (rgb_led) and ``beep`` (buzzer) only when some output can.
Other modules add theirs with :meth:`ToolBox.register` (see :mod:`edge_agent.tools_builtin`),
so the model sees one list.

Blocking: every declaration is blocking (no ``behavior``, the default). Every handler answers
within milliseconds (a beep runs in gpiozero's background thread), so ``NON_BLOCKING`` would
gain nothing, and Gemini 3.1 Flash Live supports synchronous calls only (2.5 native audio
supports both; see live-protocol.md in the shared docs).

Cancellation: the server's ``toolCallCancellation`` names calls that should not have run.
:meth:`ToolBox.call` journals, per call id, what each call changed and how it was before;
:meth:`ToolBox.cancel` puts back what is still as the call left it, newest first, and says
what it did in lines for the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    create_model,
)

from edge_agent.colors import color_help, parse_color
from edge_agent.errors import HardwareError
from edge_agent.events import ToolCall, ToolResult
from edge_agent.hardware.outputs_safety import OutputRefused, OutputState
from edge_agent.tools_base import (
    Change,
    Handler,
    Journal,
    NoArgs,
    Reply,
    ToolRefused,
    ToolSpec,
    explain,
    openapi,
    whole_number,
)

__all__ = ["Change", "Handler", "NoArgs", "OutputControl", "OutputPort", "Reply", "ToolBox", "ToolRefused", "ToolSpec"]

_LOGGER = logging.getLogger(__name__)


class OutputPort(Protocol):
    """What the tools need to declare outputs and switch them on and off (``Outputs`` has it all)."""

    def names(self) -> list[str]:
        """Output names in config order."""

    def state(self, name: str) -> bool:
        """Real state read back from the pin."""

    def set(self, name: str, on: bool) -> bool:
        """Switch; True if the pin changed. May raise OutputRefused."""

    def snapshot(self) -> dict[str, bool]:
        """Every output's real state."""

    def settings(self, name: str) -> Any:
        """The output's configuration (``kind``, ``description``, ``max_on_s``, ``interlock``, ...)."""


@runtime_checkable
class OutputControl(OutputPort, Protocol):
    """The rest of :class:`edge_agent.hardware.gpio.Outputs`: levels, colours, beeps, undo.

    A port without it (the token server's catalogue) still declares every tool; calls other than
    ``set_output`` and ``get_outputs`` then answer with an error, and nothing is journalled.
    """

    def read(self, name: str) -> OutputState:
        """What the output shows, read back from its pins."""

    def report(self, name: str) -> dict[str, Any]:
        """JSON-ready state: ``on`` plus brightness, colour, timers where they apply."""

    def set_brightness(self, name: str, percent: float) -> bool:
        """Dim; True if it changed. May raise OutputRefused."""

    def set_color(self, name: str, color: str) -> bool:
        """Colour; True if it changed. May raise OutputRefused."""

    def beep(self, name: str, times: int) -> float:
        """Beep in the background; returns the seconds it takes."""

    def restore(self, name: str, state: OutputState) -> bool:
        """Show an earlier state again (undo). May raise OutputRefused."""


class ToolBox:
    """Declares the tools and runs calls. Thread: event loop only (the journal is not locked).

    Order: build it, let other modules :meth:`register` theirs, then hand :attr:`specs` to the
    session setup; from then on :meth:`call` for each call and :meth:`cancel` for each cancellation.
    """

    def __init__(self, outputs: OutputPort, *, journal_size: int = 64) -> None:
        self._outputs = outputs
        self._control = outputs if isinstance(outputs, OutputControl) else None
        self._handlers: dict[str, tuple[type[BaseModel], Handler]] = {}
        self._journal = Journal(journal_size, (ToolRefused, OutputRefused))
        self.specs: list[ToolSpec] = []
        """The declarations, in registration order (outputs first)."""
        names = outputs.names()
        if not names:
            return
        kinds = {name: outputs.settings(name).kind for name in names}
        self.register(
            "set_output",
            f"Switch one of this device's outputs on or off. Outputs: {_catalogue(outputs, names)}.",
            _args("SetOutputArgs", names, "Which output to switch.", on=(StrictBool, _ON)),
            self._set_output,
        )
        self.register(
            "get_outputs",
            "Report each of this device's outputs right now: on or off, and brightness, colour and "
            "auto-off timers where they apply.",
            NoArgs,
            self._get_outputs,
        )
        if dimmable := [n for n in names if kinds[n] in ("pwm_led", "rgb_led")]:
            self.register(
                "set_brightness",
                "Set the brightness of a dimmable light in percent (0 = off, 100 = full); a colour light keeps "
                "its colour.",
                _args("SetBrightnessArgs", dimmable, "Which light to dim.", percent=(float, _PERCENT)),
                self._set_brightness,
            )
        if coloured := [n for n in names if kinds[n] == "rgb_led"]:
            self.register(
                "set_color",
                "Light a colour light in a colour, keeping its brightness (see set_brightness).",
                _args("SetColorArgs", coloured, "Which colour light.", color=(_Color, Field(description=_COLOR))),
                self._set_color,
            )
        if buzzers := [n for n in names if kinds[n] == "buzzer"]:
            self.register(
                "beep",
                "Sound a buzzer a few times, e.g. to signal or to be found; it answers at once.",
                _args("BeepArgs", buzzers, "Which buzzer.", times=(_Times, _TIMES)),
                self._beep,
            )

    @property
    def outputs(self) -> OutputPort:
        """The outputs the tools switch."""
        return self._outputs

    def register(self, name: str, description: str, model: type[BaseModel], run: Handler) -> None:
        """Declare tool ``name`` with arguments ``model`` (its JSON schema is the declaration).

        Call before the specs go to the session setup. Raises ValueError for a name already taken.
        """
        if name in self._handlers:
            raise ValueError(f"tool {name!r} is declared twice")
        schema = model.model_json_schema()
        parameters = openapi(schema) if schema.get("properties") else None
        self.specs.append(ToolSpec(name, description, parameters))
        self._handlers[name] = (model, run)

    def call(self, call: ToolCall) -> ToolResult:
        """Validate and run one call; never raises. The result carries the same id and name.

        What the call changed is journalled under its id for :meth:`cancel`.
        """
        handler = self._handlers.get(call.name)
        if handler is None:
            known = ", ".join(self._handlers) or "none"
            return self._error(call, f"unknown function {call.name!r}; available: {known}")
        model, run = handler
        try:
            args = model.model_validate(dict(call.args))
        except ValidationError as e:
            return self._error(call, f"invalid arguments: {explain(e)}")
        try:
            reply = run(args)
        except (OutputRefused, ToolRefused) as e:
            return self._error(call, f"refused: {e}")
        except HardwareError as e:  # a known device fault (a missing mixer control): no traceback
            return self._error(call, f"the device failed to do it: {e}")
        except Exception as e:  # a GPIO or mixer fault is reported to the model, not raised into the loop
            _LOGGER.exception("tool %s failed", call.name)
            return self._error(call, f"the device failed to do it: {e}")
        self._journal.record(call.id, call.name, reply.changes)
        _LOGGER.info("tool %s(%s) -> %s", call.name, dict(call.args), reply.response, extra={"TOOL": call.name})
        return ToolResult(call.id, call.name, reply.response)

    def cancel(self, ids: Iterable[str]) -> list[str]:
        """Undo the calls ``ids`` (the model withdrew them); return one line per call or change for the log.

        Changes are undone newest first, each only if its subject still shows what the call set;
        one that changed since is left alone, and the line says so. An undo the rules refuse
        (interlock, ``min_interval_s``) is left too. Never raises. Idempotent: a call is undone at most once.
        """
        return self._journal.cancel(ids)

    def _error(self, call: ToolCall, message: str) -> ToolResult:
        _LOGGER.warning("tool %s(%s) refused: %s", call.name, dict(call.args), message, extra={"TOOL": call.name})
        return ToolResult(call.id, call.name, {"error": message})

    # ------------------------------------------------------------------ output tools

    def _need_control(self) -> OutputControl:
        if self._control is None:
            raise ToolRefused("this device cannot do that here")
        return self._control

    def _switch(self, name: str, act: Callable[[], object]) -> Reply:
        """Run ``act`` on output ``name`` and reply with its real state; journal the change."""
        control = self._need_control()
        before = control.read(name)
        changed = bool(act())
        after = control.read(name)
        changes = () if after == before else (_output_change(control, name, before, after),)
        return Reply({"output": name, **control.report(name), "changed": changed}, changes)

    def _set_output(self, args: Any) -> Reply:
        if self._control is None:  # a bare port: on and off only, nothing journalled
            changed = self._outputs.set(args.name, args.on)
            return Reply({"output": args.name, "on": self._outputs.state(args.name), "changed": changed})
        return self._switch(args.name, lambda: self._outputs.set(args.name, args.on))

    def _get_outputs(self, _args: Any) -> Reply:
        response: dict[str, Any] = {"outputs": self._outputs.snapshot()}
        if self._control is not None:
            reports = {name: self._control.report(name) for name in self._outputs.names()}
            details = {name: {k: v for k, v in r.items() if k != "on"} for name, r in reports.items()}
            if details := {name: d for name, d in details.items() if d}:
                response["details"] = details
        return Reply(response)

    def _set_brightness(self, args: Any) -> Reply:
        control = self._need_control()
        return self._switch(args.name, lambda: control.set_brightness(args.name, args.percent))

    def _set_color(self, args: Any) -> Reply:
        control = self._need_control()
        return self._switch(args.name, lambda: control.set_color(args.name, args.color))

    def _beep(self, args: Any) -> Reply:
        control = self._need_control()
        before = control.read(args.name)
        seconds = control.beep(args.name, args.times)
        after = control.read(args.name)
        response = {"output": args.name, "beeping": True, "times": args.times, "seconds": round(seconds, 2)}
        return Reply(response, (_output_change(control, args.name, before, after),))


# ---------------------------------------------------------------------- helpers


def _valid_color(value: str) -> str:
    parse_color(value)  # raises ValueError naming the accepted forms
    return value


_ON = Field(description="true switches it on, false switches it off.")
_PERCENT = Field(strict=True, ge=0, le=100, description="Brightness in percent: 0 = off, 100 = full.")
_COLOR = f"The colour: {color_help()}."
_Color = Annotated[StrictStr, AfterValidator(_valid_color)]
_Times = Annotated[int, BeforeValidator(whole_number)]
_TIMES = Field(default=1, strict=True, ge=1, le=10, description="How many beeps, 1..10 (default 1).")


def _args(model: str, names: list[str], what: str, **fields: Any) -> type[BaseModel]:
    """An argument model: ``name`` (an enum of ``names``) plus ``fields``; extra keys refused."""
    return create_model(
        model,
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        name=(Literal[tuple(names)], Field(description=what)),  # type: ignore[arg-type]
        **fields,
    )


def _catalogue(outputs: OutputPort, names: list[str]) -> str:
    """``kitchen_light: The kitchen light; heater: Heater (off by itself after 1800 s; ...)``."""
    entries = []
    for name in names:
        cfg = outputs.settings(name)
        notes = {"pwm_led": ["dimmable"], "rgb_led": ["colour light"], "buzzer": ["buzzer"]}.get(cfg.kind, [])
        if cfg.kind == "relay":
            if cfg.max_on_s > 0:
                notes.append(f"off by itself after {cfg.max_on_s:g} s")
            if cfg.min_interval_s > 0:
                notes.append(f"at most one switch every {cfg.min_interval_s:g} s")
            others = [
                n for n in names if n != name and cfg.interlock and outputs.settings(n).interlock == cfg.interlock
            ]
            if others:
                notes.append(f"never on together with {', '.join(others)}")
        note = f" ({'; '.join(notes)})" if notes else ""
        entries.append(f"{name}: {cfg.description or cfg.kind}{note}")
    return "; ".join(entries)


def _output_change(control: OutputControl, name: str, before: OutputState, after: OutputState) -> Change:
    return Change(
        subject=name,
        before=before.describe(),
        still_set=lambda: control.read(name) == after,
        revert=lambda: control.restore(name, before),
    )
