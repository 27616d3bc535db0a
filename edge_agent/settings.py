"""Settings: the TOML config file turned into frozen, validated, documented values.

Call order: ``config_path()`` → ``load_settings()`` → ``load_api_key()``; ``render_settings()`` shows it.
Every problem raises :class:`~edge_agent.errors.ConfigError` naming the file, the dotted key
(``outputs[1].pin``), what is allowed and what was found. Unknown keys are errors, so typos never
pass silently. The docstring under each field is its description: ``render_settings`` prints it
as a comment and ``config/edge-agent.toml`` mirrors it.

Path settings are ``Path | None``: ``""`` means not set, and a relative path is resolved against the
config file's directory (or, for ``settings_from_mapping`` without ``base_dir``, the working directory),
so consumers always see an absolute path or None. Pure: no I/O except reading the files named.

This module holds the models and the loading; the error wording lives in ``settings_errors``, the TOML
renderer in ``settings_render`` and the API key in ``api_key``. Import all of them from here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from edge_agent.api_key import ApiKey, load_api_key
from edge_agent.errors import ConfigError
from edge_agent.settings_base import NonEmpty, OptionalPath, Pin, _as_tuple, _Section
from edge_agent.settings_devices import CameraSettings, LightsSettings, OutputSettings, VolumeSettings, _rule_error
from edge_agent.settings_errors import (
    Expect,
    duplicate_error,
    show,
    toml_error,
    unknown_key,
    user_keys,
    validation_error,
)
from edge_agent.settings_render import render_settings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ApiKey",
    "AudioSettings",
    "ButtonSettings",
    "CameraSettings",
    "DaemonSettings",
    "MuteSwitchSettings",
    "HardwareSettings",
    "LightsSettings",
    "ListeningSettings",
    "LiveSettings",
    "OutputSettings",
    "Settings",
    "SimulatedSettings",
    "VolumeSettings",
    "config_path",
    "load_api_key",
    "load_settings",
    "render_settings",
    "settings_from_mapping",
]

DEFAULT_CONFIG_PATH = Path("/etc/edge-agent/edge-agent.toml")
CONFIG_ENV = "EDGE_AGENT_CONFIG"
BUILT_IN = "<built-in>"


class LiveSettings(_Section):
    """The Gemini Live API connection."""

    model: NonEmpty = "gemini-2.5-flash-native-audio-preview-12-2025"
    """Live API model name (a native-audio model)."""
    base_url: Annotated[
        str, Field(pattern=r"^(https?://\S+)?$"), Expect('"" or a URL starting with http:// or https://')
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
        Expect('"" or a BCP-47 language code such as "en-US"'),
    ] = ""
    """BCP-47 language code for speech, e.g. "en-US"; "" = the model's default."""
    system_instruction: str = (
        "You are a helpful voice assistant on a small speaker. Answer briefly. "
        "Use the tools to switch the outputs when asked."
    )
    """System instruction sent at the start of every session."""
    auth: Literal["api_key", "ephemeral"] = "api_key"
    """"api_key" = connect with the API key; "ephemeral" = fetch a short-lived token from token_url first."""
    token_url: Annotated[str, Field(pattern=r"^(https://\S+)?$"), Expect('"" or a URL starting with https://')] = ""
    """auth = "ephemeral": the HTTPS endpoint (`edge-agent token-server`) that mints tokens for this device."""
    device_secret_file: OptionalPath = None
    """auth = "ephemeral": file holding this device's secret for the token server (keep it mode 0600)."""
    daily_token_budget: Annotated[int, Field(ge=0)] = 0
    """Tokens a day (local time) before the camera stops (at 90 %) and new turns are refused (100 %); 0 = no limit."""
    reply_timeout_s: Annotated[float, Field(ge=0, le=600)] = 20.0
    """Session watchdog: reconnect when the model owes a reply and sends nothing for this long; 0 = off."""
    keepalive_interval_s: Annotated[float, Field(gt=0, le=300)] = 20.0
    """WebSocket ping interval."""
    keepalive_timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    """How long to wait for a pong before the connection counts as dead (the service can take 30 s)."""
    context_compression: bool = True
    """Sliding-window context compression, so sessions are not capped at 15 minutes (2 with video)."""
    handover_buffer_s: Annotated[float, Field(ge=0, le=60)] = 5.0
    """Microphone audio held while (re)connecting and sent on the new connection; older audio is dropped."""


class HardwareSettings(_Section):
    """Which hardware backend drives the microphone, speaker, button and outputs."""

    backend: Literal["pi", "simulated"] = "pi"
    """"pi" = ALSA audio and GPIO on a Raspberry Pi; "simulated" = WAV files and a GPIO log ([simulated])."""


class AudioSettings(_Section):
    """Audio devices, formats and timing."""

    chunk_ms: Literal[20, 30, 40] = 40
    """Microphone audio is sent upstream in chunks of this many milliseconds (also how often the audio thread
    resamples and cancels echo)."""
    period_ms: Annotated[int, Field(ge=5, le=50)] = 10
    """Audio loop period in milliseconds (ALSA period size); a barge-in silences the speaker from the next one."""
    prebuffer_ms: Annotated[int, Field(ge=0, le=2000)] = 100
    """Playback jitter buffer: milliseconds of reply audio queued before playback starts."""
    capture_device: NonEmpty = "default"
    """ALSA capture PCM name, e.g. "plughw:CARD=seeed2micvoicec,DEV=0"."""
    capture_rate: Annotated[int, Field(ge=8000, le=192000)] = 16000
    """Capture sample rate in Hz (resampled to the 16 kHz the Live API expects)."""
    capture_channels: Annotated[int, Field(ge=1, le=8)] = 1
    """Capture channels (mixed down to mono unless capture_channel picks one)."""
    capture_channel: Annotated[int, Field(ge=0, le=7)] | None = None
    """Use only this capture channel (0 = the first) of a multi-channel mic; leave the key out to mix them all."""
    input_gain_db: Annotated[float, Field(ge=-20, le=30)] = 0.0
    """Gain applied to the microphone before anything else, in dB (-20..30); raise it for a quiet mic."""
    playback_device: NonEmpty = "default"
    """ALSA playback PCM name."""
    playback_rate: Annotated[int, Field(ge=8000, le=192000)] = 48000
    """Playback sample rate in Hz (the model's 24 kHz speech is resampled to it)."""
    playback_channels: Annotated[int, Field(ge=1, le=8)] = 1
    """Playback channels (the mono reply is copied to each)."""
    echo_cancellation: Literal["webrtc", "half_duplex", "off"] = "webrtc"
    """"webrtc" = WebRTC AEC3 removes the speaker from the mic; "half_duplex" = the mic sends silence while the
    speaker plays (barge in with the button); "off" = neither (headphones, or a mic far from the speaker)."""
    noise_suppression: bool = True
    """webrtc: also suppress steady background noise (it removes residual echo too, at a small cost to the voice)."""
    min_erle_db: Annotated[float, Field(ge=0, le=60)] = 18.0
    """webrtc: when the measured echo reduction stays below this many dB while the model speaks, the daemon
    switches itself to half_duplex (logged and shown in status); 0 = never."""

    @model_validator(mode="after")
    def _check_channel(self) -> AudioSettings:
        if self.capture_channel is not None and self.capture_channel >= self.capture_channels:
            expected = f"a channel below capture_channels ({self.capture_channels}), counting from 0"
            raise _rule_error("audio.capture_channel", expected, show(self.capture_channel))
        return self


class ListeningSettings(_Section):
    """When the microphone is streamed to the model."""

    mode: Literal["always", "on_wake"] = "on_wake"
    """"always" = stream the microphone whenever connected; "on_wake" = only after a button press."""
    idle_timeout_s: Annotated[float, Field(gt=0, le=300)] = 8.0
    """on_wake: seconds of listening with no reply before returning to standby."""
    disconnect_after_s: Annotated[float, Field(ge=0, le=86400)] = 120.0
    """on_wake: seconds in standby before the connection is closed, so idle costs nothing; 0 = stay connected."""
    turn_detection: Literal["auto", "push_to_talk"] = "auto"
    """"auto" = the server detects speech (VAD); "push_to_talk" = hold the button while speaking."""
    vad_start_sensitivity: Literal["default", "high", "low"] = "default"
    """auto: how easily speech is detected as starting ("high" = more easily)."""
    vad_end_sensitivity: Literal["default", "high", "low"] = "default"
    """auto: how easily speech is detected as ended ("high" = ends sooner)."""
    vad_prefix_padding_ms: Annotated[int, Field(ge=0, le=5000)] = 0
    """auto: ms of speech needed before start of speech is committed; 0 = the server's default."""
    vad_silence_duration_ms: Annotated[int, Field(ge=0, le=10000)] = 0
    """auto: ms of silence before end of speech is committed; 0 = the server's default."""


class ButtonSettings(_Section):
    """The push button that wakes the speaker (on_wake mode)."""

    pin: Pin | None = None
    """BCM pin of the button (0..27); leave the key out for no button."""
    pull_up: bool = True
    """true = internal pull-up, button wired to ground; false = pull-down, button wired to 3.3 V."""
    bounce_ms: Annotated[int, Field(ge=0, le=1000)] = 30
    """Debounce time in milliseconds."""
    mute_hold_s: Annotated[float, Field(gt=0, le=30)] = 3.0
    """Holding the button this long toggles the privacy mute (in push_to_talk, holding is talking)."""


class MuteSwitchSettings(_Section):
    """An optional hardware privacy switch: while it is in the mute position nothing can unmute."""

    pin: Pin | None = None
    """BCM pin of the switch; leave the key out for no switch."""
    pull_up: bool = True
    """true = internal pull-up, the switch connects the pin to ground in the mute position."""


class DaemonSettings(_Section):
    """Where the daemon keeps what survives a restart."""

    state_dir: OptionalPath = None
    """Mute state, resumption handle and token use; "" = $STATE_DIRECTORY (systemd) or /var/lib/edge-agent."""


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
    camera: CameraSettings = Field(default_factory=CameraSettings)
    """Camera stills for the model."""
    mute_switch: MuteSwitchSettings = Field(default_factory=MuteSwitchSettings)
    """The hardware mute switch."""
    volume: VolumeSettings = Field(default_factory=VolumeSettings)
    """The speaker volume the model can set."""
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    """What survives a restart."""
    simulated: SimulatedSettings = Field(default_factory=SimulatedSettings)
    """Stand-ins for the hardware when hardware.backend = "simulated"."""
    lights: LightsSettings = Field(default_factory=LightsSettings)
    """Status lights and the camera privacy light."""
    outputs: Annotated[tuple[OutputSettings, ...], BeforeValidator(_as_tuple)] = ()
    """GPIO outputs the model can switch, one [[outputs]] table each (zero or more)."""
    source: str = Field(default=BUILT_IN, exclude=True)
    """The config file these settings came from, or "<built-in>". Not settable from TOML."""

    @model_validator(mode="after")
    def _check_unique(self) -> Settings:
        names: dict[str, int] = {}
        pins: dict[int, str] = {} if self.button.pin is None else {self.button.pin: "button.pin"}
        switch = self.mute_switch.pin
        if switch is not None:
            if switch in pins:
                raise duplicate_error("mute_switch.pin", pins[switch], switch)
            pins[switch] = "mute_switch.pin"
        for key, pin in self.lights.pin_keys():
            if pin in pins:
                raise duplicate_error(key, pins[pin], pin)
            pins[pin] = key
        for i, out in enumerate(self.outputs):
            if out.name in names:
                raise duplicate_error(f"outputs[{i}].name", f"outputs[{names[out.name]}].name", out.name)
            for key, pin in out.pin_keys(f"outputs[{i}]"):
                if pin in pins:
                    raise duplicate_error(key, pins[pin], pin)
                pins[pin] = key
            names[out.name] = i
        return self

    @model_validator(mode="after")
    def _check_output_rules(self) -> Settings:
        """Each output's own rules, then interlock groups: at most one relay per group starts or ends on."""
        for i, out in enumerate(self.outputs):
            for key, expected, found in out.problems():
                raise _rule_error(f"outputs[{i}].{key}", expected, found)
        for key in ("initial", "safe"):
            on_in: dict[str, str] = {}
            for i, out in enumerate(self.outputs):
                if out.interlock and getattr(out, key):
                    if out.interlock in on_in:
                        expected = (
                            f"false: {on_in[out.interlock]} of interlock group {out.interlock!r} has {key} = true, "
                            "and interlocked relays are never on together"
                        )
                        raise _rule_error(f"outputs[{i}].{key}", expected, "true")
                    on_in[out.interlock] = out.name
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in user_keys(Settings)))


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
        raise toml_error(file, text, exc) from None
    return settings_from_mapping(data, source=file, base_dir=path.absolute().parent)


def settings_from_mapping(data: Mapping[str, Any], *, source: str = BUILT_IN, base_dir: Path | None = None) -> Settings:
    """Validate ``data`` (shaped like the parsed TOML) into Settings; ConfigError on any problem.

    ``source`` names the origin in errors and in ``Settings.source``. Relative paths are resolved against
    ``base_dir`` (default: the working directory).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, "(top level)", "a table of sections", show(data))
    if "source" in data:
        raise ConfigError(source, "source", "a known section name", unknown_key("source", Settings))
    try:
        return Settings.model_validate({**data, "source": source}, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise validation_error(source, exc, data, Settings) from None
