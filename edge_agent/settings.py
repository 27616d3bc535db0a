"""Settings: the TOML config file turned into frozen, validated, documented values.

Call order: ``config_path()`` → ``load_settings()`` → ``load_api_key()``; ``render_settings()`` shows it.
Every problem raises :class:`~edge_agent.errors.ConfigError` naming the file, the dotted key
(``outputs[1].pin``), what is allowed and what was found. Unknown keys are errors, so typos never
pass silently. The docstring under each field is its description: ``render_settings`` prints it
as a comment and ``config/edge-agent.toml`` mirrors it.

Path settings are ``Path | None``: ``""`` means not set, and a relative path is resolved against the
config file's directory (or, for ``settings_from_mapping`` without ``base_dir``, the working directory),
so consumers always see an absolute path or None. Pure: no I/O except reading the files named.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from edge_agent.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/edge-agent/edge-agent.toml")
CONFIG_ENV = "EDGE_AGENT_CONFIG"
CREDENTIAL_NAME = "gemini-api-key"
"""systemd credential name (``LoadCredential=gemini-api-key:...`` in the unit)."""
BUILT_IN = "<built-in>"


class _Expect:
    """Annotation marker: the human text for what a field allows, when the type alone cannot say it."""

    def __init__(self, text: str) -> None:
        self.text = text


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
    _Expect('a path string ("" = not set; relative paths are relative to the config file\'s directory)'),
]
OutputName = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
    _Expect("a lowercase letter followed by up to 39 lowercase letters, digits or _ (^[a-z][a-z0-9_]{0,39}$)"),
]


class _Section(BaseModel):
    """Shared config: frozen, unknown keys rejected, no type coercion, docstrings as descriptions."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True, allow_inf_nan=False
    )


class LiveSettings(_Section):
    """The Gemini Live API connection."""

    model: NonEmpty = "gemini-2.5-flash-native-audio-preview-12-2025"
    """Live API model name (a native-audio model)."""
    base_url: Annotated[
        str, Field(pattern=r"^(https?://\S+)?$"), _Expect('"" or a URL starting with http:// or https://')
    ] = ""
    """API endpoint: "" = Google's; otherwise an http:// or https:// URL, e.g. the fake Live server."""
    api_version: Literal["v1", "v1beta", "v1alpha"] = "v1beta"
    """API version used for the Live connection."""
    api_key_file: OptionalPath = None
    """File holding the API key; "" = not used (systemd credential or $GEMINI_API_KEY instead)."""
    ca_file: OptionalPath = None
    """Extra CA bundle (PEM) to trust for the Live endpoint (fake server, TLS proxy); "" = system store."""
    voice: NonEmpty = "Puck"
    """Prebuilt voice name for the model's speech, e.g. "Puck", "Kore", "Charon"."""
    language_code: Annotated[
        str,
        Field(pattern=r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$"),
        _Expect('"" or a BCP-47 language code such as "en-US"'),
    ] = ""
    """BCP-47 language code for speech, e.g. "en-US"; "" = the model's default."""
    system_instruction: str = (
        "You are a helpful voice assistant on a small speaker. Answer briefly. "
        "Use the tools to switch the outputs when asked."
    )
    """System instruction sent at the start of every session."""


class HardwareSettings(_Section):
    """Which hardware backend drives the microphone, speaker, button and outputs."""

    backend: Literal["pi", "simulated"] = "pi"
    """"pi" = ALSA audio and GPIO on a Raspberry Pi; "simulated" = WAV files and a GPIO log ([simulated])."""


class AudioSettings(_Section):
    """Audio devices, formats and timing."""

    chunk_ms: Literal[20, 30, 40] = 40
    """Microphone audio is sent upstream in chunks of this many milliseconds."""
    period_ms: Annotated[int, Field(ge=5, le=50)] = 10
    """Audio loop period in milliseconds (ALSA period size)."""
    prebuffer_ms: Annotated[int, Field(ge=0, le=2000)] = 100
    """Playback jitter buffer: milliseconds of reply audio queued before playback starts."""
    capture_device: NonEmpty = "default"
    """ALSA capture PCM name, e.g. "plughw:CARD=seeed2micvoicec,DEV=0"."""
    capture_rate: Annotated[int, Field(ge=8000, le=192000)] = 16000
    """Capture sample rate in Hz (resampled to the 16 kHz the Live API expects)."""
    capture_channels: Annotated[int, Field(ge=1, le=8)] = 1
    """Capture channels (mixed down to mono)."""
    playback_device: NonEmpty = "default"
    """ALSA playback PCM name."""
    playback_rate: Annotated[int, Field(ge=8000, le=192000)] = 48000
    """Playback sample rate in Hz (the model's 24 kHz speech is resampled to it)."""
    playback_channels: Annotated[int, Field(ge=1, le=8)] = 1
    """Playback channels (the mono reply is copied to each)."""


class ListeningSettings(_Section):
    """When the microphone is streamed to the model."""

    mode: Literal["always", "on_wake"] = "on_wake"
    """"always" = stream the microphone whenever connected; "on_wake" = only after a button press."""
    idle_timeout_s: Annotated[float, Field(gt=0, le=300)] = 8.0
    """on_wake: seconds of listening with no reply before returning to standby."""


class ButtonSettings(_Section):
    """The push button that wakes the speaker (on_wake mode)."""

    pin: Pin | None = None
    """BCM pin of the button (0..27); leave the key out for no button."""
    pull_up: bool = True
    """true = internal pull-up, button wired to ground; false = pull-down, button wired to 3.3 V."""
    bounce_ms: Annotated[int, Field(ge=0, le=1000)] = 30
    """Debounce time in milliseconds."""


class SimulatedSettings(_Section):
    """Stand-ins for the hardware, used when hardware.backend = "simulated"."""

    mic_wav: OptionalPath = None
    """16-bit WAV played into the microphone in real time, then silence; "" = silence throughout."""
    mic_start_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    """Seconds of silence from start before mic_wav begins (time to connect, or for a button tap)."""
    speaker_wav: OptionalPath = None
    """Everything the speaker played, written as a 24 kHz 16-bit WAV; "" = discarded."""
    gpio_log: OptionalPath = None
    """JSON lines file, one line per output change: time, output name, pin, new state; "" = not written."""
    button_presses_s: Annotated[tuple[Annotated[float, Field(ge=0)], ...], BeforeValidator(_as_tuple)] = ()
    """Seconds after start at which the simulated button is tapped, e.g. [1.0, 12.5]."""


class OutputSettings(_Section):
    """One GPIO output (an LED or a relay) that the model can switch on and off."""

    name: OutputName
    """Required. Name the model uses for this output (it appears in the tool's enum)."""
    kind: Literal["led", "relay"]
    """Required. "led" or "relay"."""
    pin: Pin
    """Required. BCM pin number (0..27)."""
    description: str = ""
    """What the output switches, told to the model, e.g. "The kitchen ceiling light"."""
    active_high: bool = True
    """true = the pin is driven high for on; false for active-low relay boards."""
    initial: bool = False
    """State at start; outputs always return to off (their safe state) on exit."""


class Settings(_Section):
    """Everything edge-agent reads from its config file.

    Equality and hash ignore ``source``: two settings with the same values are equal wherever they came from.
    """

    live: LiveSettings = Field(default_factory=LiveSettings)
    """The Gemini Live API connection."""
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    """Which hardware backend to use."""
    audio: AudioSettings = Field(default_factory=AudioSettings)
    """Audio devices, formats and timing."""
    listening: ListeningSettings = Field(default_factory=ListeningSettings)
    """When the microphone is streamed to the model."""
    button: ButtonSettings = Field(default_factory=ButtonSettings)
    """The push button that wakes the speaker."""
    simulated: SimulatedSettings = Field(default_factory=SimulatedSettings)
    """Stand-ins for the hardware when hardware.backend = "simulated"."""
    outputs: Annotated[tuple[OutputSettings, ...], BeforeValidator(_as_tuple)] = ()
    """GPIO outputs the model can switch, one [[outputs]] table each (zero or more)."""
    source: str = Field(default=BUILT_IN, exclude=True)
    """The config file these settings came from, or "<built-in>". Not settable from TOML."""

    @model_validator(mode="after")
    def _check_unique(self) -> Settings:
        names: dict[str, int] = {}
        pins: dict[int, str] = {} if self.button.pin is None else {self.button.pin: "button.pin"}
        for i, out in enumerate(self.outputs):
            if out.name in names:
                raise _cross_error(f"outputs[{i}].name", f"outputs[{names[out.name]}].name", out.name)
            if out.pin in pins:
                raise _cross_error(f"outputs[{i}].pin", pins[out.pin], out.pin)
            names[out.name] = i
            pins[out.pin] = f"outputs[{i}].pin"
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in _user_keys(Settings)))


def _cross_error(key: str, first: str, value: object) -> PydanticCustomError:
    expected = f"a value not already used by {first}"
    return PydanticCustomError(
        "duplicate", "{key}: expected {expected}", {"key": key, "expected": expected, "found": _show(value)}
    )


# --- Locating and loading ------------------------------------------------------------------------------


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """Return the config file to load: ``--config`` > ``$EDGE_AGENT_CONFIG`` > DEFAULT_CONFIG_PATH.

    Empty strings count as not given. Does not check that the file exists (``load_settings`` does).
    """
    return Path(cli_value or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_settings(path: Path) -> Settings:
    """Read, parse and validate the TOML file at ``path``. Blocks on file I/O.

    Raises ConfigError with key "(file)" when the file is missing, a directory or unreadable, and with the
    offending key otherwise. Relative paths inside are resolved against the file's directory.
    """
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, "(file)", "an existing TOML file", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(file, "(file)", "a TOML file", "a directory") from None
    except OSError as exc:
        raise ConfigError(file, "(file)", "a readable TOML file", f"unreadable ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            file, f"line {line}", "UTF-8 text", f"a byte that is not UTF-8: {raw[exc.start : exc.start + 1]!r}"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(file, text, exc) from None
    return settings_from_mapping(data, source=file, base_dir=path.absolute().parent)


def settings_from_mapping(data: Mapping[str, Any], *, source: str = BUILT_IN, base_dir: Path | None = None) -> Settings:
    """Validate ``data`` (shaped like the parsed TOML) into Settings; ConfigError on any problem.

    ``source`` names the origin in errors and in ``Settings.source``. Relative paths are resolved against
    ``base_dir`` (default: the working directory).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, "(top level)", "a table of sections", _show(data))
    if "source" in data:
        raise ConfigError(source, "source", "a known section name", _unknown("source", Settings))
    try:
        return Settings.model_validate({**data, "source": source}, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _config_error(source, exc, data) from None


# --- Turning pydantic and tomllib errors into ConfigError ---------------------------------------------

_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=")


def _toml_error(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
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
    return ConfigError(file, key, "valid TOML", f"{exc}: line {lineno}: {_show(line)}")


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _user_keys(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if name != "source"]


def _unknown(name: str, model: type[BaseModel]) -> str:
    known = _user_keys(model)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {name!r} ({hint}known keys: {', '.join(known)})"


def _walk(loc: tuple[int | str, ...]) -> tuple[str, Any, list[Any], type[BaseModel] | None]:
    """Follow ``loc`` through the models: (dotted key, annotation, metadata, parent model if unknown key)."""
    key, meta = "", list[Any]()
    tp: Any = None
    model: type[BaseModel] | None = Settings
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
    if texts := [m.text for m in meta if isinstance(m, _Expect)]:
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


def _config_error(file: str, exc: ValidationError, data: Mapping[str, Any]) -> ConfigError:
    """Report the first problem in file order, with a note naming the others."""
    problems: dict[str, tuple[tuple[int, ...], str, str]] = {}
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "duplicate":
            key, expected, found = ctx["key"], ctx["expected"], ctx["found"]
        else:
            key, tp, meta, parent = _walk(err["loc"])
            if parent is not None:
                name = str(err["loc"][-1])
                section = "[[outputs]]" if parent is OutputSettings else f"[{key.rpartition('.')[0]}]"
                where = f"a known key in {section}" if parent is not Settings else "a known section name"
                expected, found = where, _unknown(name, parent)
            elif err["type"] == "missing":
                expected, found = (f"{_describe(tp, meta)} (this key is required)", "nothing (the key is missing)")
            else:
                expected, found = _describe(tp, meta), _show(err["input"])
        problems.setdefault(key, (_file_order(err["loc"], data), expected, found))
    ordered = sorted(problems.items(), key=lambda item: item[1][0])
    key, (_, expected, found) = ordered[0]
    if rest := [other for other, _ in ordered[1:]]:
        more = ", ".join(rest[:3]) + (", ..." if len(rest) > 3 else "")
        found += f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''}: {more})"
    return ConfigError(file, key, expected, found)


# --- The API key ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    """The Gemini API key and where it came from. ``repr``/``str`` never show the key; ``reveal()`` does."""

    source: str
    """Where the key was found, e.g. "$GEMINI_API_KEY"; safe to log."""
    secret: SecretStr = field(repr=False)
    """The key itself, wrapped so that it is never printed by accident."""

    def reveal(self) -> str:
        """Return the key text: pass it to the SDK and nowhere else."""
        return self.secret.get_secret_value()

    def __str__(self) -> str:
        return f"API key from {self.source} (redacted)"


def load_api_key(settings: Settings, environ: Mapping[str, str]) -> ApiKey | None:
    """Find the API key; the first found wins. None when nothing is configured anywhere. Blocks on file I/O.

    1. systemd credential ``$CREDENTIALS_DIRECTORY/gemini-api-key`` (when that file exists),
    2. ``live.api_key_file`` (must then be readable, UTF-8 and non-empty),
    3. ``$GEMINI_API_KEY``.
    """
    if directory := environ.get("CREDENTIALS_DIRECTORY"):
        credential = Path(directory) / CREDENTIAL_NAME
        if os.path.lexists(credential):  # False also when the directory cannot be searched
            key = _read_key(credential, settings.source, f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}")
            return ApiKey(f"systemd credential {CREDENTIAL_NAME}", SecretStr(key))
    if (path := settings.live.api_key_file) is not None:
        return ApiKey(f"live.api_key_file ({path})", SecretStr(_read_key(path, settings.source, "live.api_key_file")))
    if key := environ.get("GEMINI_API_KEY", "").strip():
        return ApiKey("$GEMINI_API_KEY", SecretStr(key))
    return None


def _read_key(path: Path, file: str, key: str) -> str:
    expected = "a readable UTF-8 file holding the API key on one line"
    try:
        text = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(file, key, expected, f"no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(file, key, expected, f"a directory: {path}") from None
    except OSError as exc:
        raise ConfigError(file, key, expected, f"unreadable ({exc.strerror}): {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(file, key, expected, f"a file that is not UTF-8 text: {path}") from None
    if not text:
        raise ConfigError(file, key, expected, f"an empty file: {path}")
    if any(char.isspace() for char in text):
        raise ConfigError(file, key, expected, f"a file with whitespace inside the key: {path}")
    return text


# --- Rendering the effective configuration as TOML ------------------------------------------------------

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
    for name in _user_keys(Settings):
        lines += _comment(Settings.model_fields[name].description)
        if name == "outputs":
            lines += ["# (none)", ""] if not settings.outputs else []
            for output in settings.outputs:
                lines += ["[[outputs]]", *_render_fields(output)]
        else:
            lines += [f"[{name}]", *_render_fields(getattr(settings, name))]
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
