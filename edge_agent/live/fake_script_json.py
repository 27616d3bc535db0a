"""Where fake Live scripts come from: the built-in scripts by name, and JSON script files.

:func:`load_script` takes a name from :data:`BUILTIN_SCRIPTS` or a path to a JSON file
(:func:`script_from_json` describes its shape) and reports an invalid file as a
:class:`~edge_agent.errors.ConfigError` naming the step and field. Reads files.
"""

from __future__ import annotations

import dataclasses
import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic

from edge_agent.errors import ConfigError
from edge_agent.live.fake_steps import (
    After,
    Audio,
    Close,
    Drop,
    Echo,
    GenerationComplete,
    GoAway,
    InputTranscript,
    Interrupted,
    OnAudio,
    OnSetup,
    OnSpeechEnd,
    OnText,
    OnToolResponse,
    OutputTranscript,
    Raw,
    ResumptionUpdate,
    Script,
    Step,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    Usage,
    Wait,
)
from edge_agent.live.fake_wire import OUTPUT_RATE


def echo_script() -> Script:
    """Forever: at each end of speech, play the user's audio back at 24 kHz, transcript "(echo)"."""
    reply = (Echo(transcript="(echo)"), GenerationComplete(), TurnComplete())
    return Script(steps=(Step(OnSpeechEnd(), reply),), repeat=True, name="echo")


def _demo_script() -> Script:
    from edge_agent.live.demo_script import demo_script  # imported late: it builds on this module

    return demo_script()


BUILTIN_SCRIPTS: dict[str, Callable[[], Script]] = {"echo": echo_script, "demo": _demo_script}
"""Scripts :func:`load_script` knows by name; other modules may register more."""


def load_script(spec: str) -> Script:
    """Return the built-in script named ``spec``, or the script in the JSON file at path ``spec``.

    Raises :class:`~edge_agent.errors.ConfigError` (a ValueError) naming the file, the step
    and the field when the file is invalid.
    """
    if spec in BUILTIN_SCRIPTS:
        return BUILTIN_SCRIPTS[spec]()
    path = Path(spec)
    if not path.is_file():
        names = ", ".join(sorted(BUILTIN_SCRIPTS))
        raise ConfigError(spec, "script", f"a built-in script ({names}) or a JSON file", "neither")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(str(path), "(document)", "a readable JSON file", str(e)) from e
    return script_from_json(doc, path)


_TRIGGER_NAMES: dict[str, type[Any]] = {
    "setup": OnSetup,
    "speech_end": OnSpeechEnd,
    "audio": OnAudio,
    "tool_response": OnToolResponse,
    "text": OnText,
    "after": After,
}
_ACTION_NAMES: dict[str, type[Any]] = {
    "audio": Audio,
    "echo": Echo,
    "input_transcript": InputTranscript,
    "output_transcript": OutputTranscript,
    "tool_call": ToolCall,
    "tool_call_cancellation": ToolCallCancellation,
    "interrupted": Interrupted,
    "generation_complete": GenerationComplete,
    "turn_complete": TurnComplete,
    "go_away": GoAway,
    "resumption_update": ResumptionUpdate,
    "usage": Usage,
    "raw": Raw,
    "wait": Wait,
    "close": Close,
    "drop": Drop,
}


def script_from_json(doc: Any, path: Path) -> Script:
    """Build a script from a parsed JSON document; WAV paths are relative to ``path``'s folder.

    Shape: ``{"repeat": false, "steps": [{"on": TRIGGER, "do": [ACTION, ...]}, ...]}`` where
    TRIGGER and ACTION are ``{"name": {arguments}}`` or just ``"name"``; names are the class
    names in snake_case (``speech_end``, ``turn_complete``), arguments their fields. The
    ``audio`` action takes ``"wav"`` (16-bit mono 24 kHz) instead of ``pcm``.
    """
    file = str(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise ConfigError(file, "steps", 'an object {"steps": [...]}', _short(doc))
    _check_keys(doc, {"steps", "repeat", "name", "comment"}, "(document)", file)
    if not isinstance(doc.get("repeat", False), bool) or (doc.get("repeat") and not doc["steps"]):
        raise ConfigError(file, "repeat", "true or false (true needs steps)", _short(doc.get("repeat")))
    steps = []
    for i, step in enumerate(doc["steps"]):
        where = f"steps[{i}]"
        if not isinstance(step, dict) or "on" not in step or not isinstance(step.get("do", []), list):
            raise ConfigError(file, where, '{"on": trigger, "do": [actions]}', _short(step))
        _check_keys(step, {"on", "do", "comment"}, where, file)
        trigger = _build(step["on"], _TRIGGER_NAMES, f"{where}.on", path)
        actions = [_build(a, _ACTION_NAMES, f"{where}.do[{j}]", path) for j, a in enumerate(step.get("do", []))]
        steps.append(Step(trigger, tuple(actions)))
    return Script(tuple(steps), repeat=doc.get("repeat", False), name=str(doc.get("name", path.stem)))


def _build(spec: Any, names: dict[str, type[Any]], where: str, path: Path) -> Any:
    file = str(path)
    if isinstance(spec, str):
        spec = {spec: {}}
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in names:
        raise ConfigError(file, where, f'one of {", ".join(names)} (as "name" or {{"name": {{...}}}})', _short(spec))
    ((name, args),) = spec.items()
    where = f"{where}.{name}"
    if not isinstance(args, dict):
        raise ConfigError(file, where, "an object of arguments", _short(args))
    cls = names[name]
    allowed = {f.name for f in dataclasses.fields(cls)}
    if cls is Audio:  # the one action whose JSON differs from its fields: a WAV file, not bytes
        allowed = allowed - {"pcm"} | {"wav"}
    _check_keys(args, allowed, where, file)
    if cls is Audio:
        if not isinstance(args.get("wav"), str):
            raise ConfigError(file, f"{where}.wav", "a WAV file name", _short(args.get("wav")))
        args = {k: v for k, v in args.items() if k != "wav"} | {
            "pcm": _read_wav(path.parent / args["wav"], file, where)
        }
    try:
        return pydantic.TypeAdapter(cls).validate_python(args)
    except pydantic.ValidationError as e:
        error = e.errors()[0]
        loc = ".".join(str(part) for part in (where, *error["loc"]))
        raise ConfigError(file, loc, error["msg"].removeprefix("Value error, "), _short(error.get("input"))) from e


def _read_wav(wav: Path, file: str, where: str) -> bytes:
    try:
        with wave.open(str(wav), "rb") as w:
            found = (w.getnchannels(), w.getsampwidth() * 8, w.getframerate())
            if found != (1, 16, OUTPUT_RATE):
                raise ConfigError(
                    file,
                    f"{where}.wav",
                    f"{wav} as 16-bit mono {OUTPUT_RATE} Hz",
                    "{} channel(s), {}-bit, {} Hz".format(*found),
                )
            return w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise ConfigError(file, f"{where}.wav", "a readable 16-bit mono 24 kHz WAV file", f"{wav}: {e}") from e


def _check_keys(obj: dict[str, Any], allowed: set[str], where: str, file: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ConfigError(file, f"{where}.{unknown[0]}", f"one of {', '.join(sorted(allowed))}", "an unknown key")


def _short(value: Any) -> str:
    text = f"<{len(value)} bytes>" if isinstance(value, bytes) else json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
