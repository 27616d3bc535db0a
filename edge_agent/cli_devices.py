"""``edge-agent devices``: the ALSA sound cards and PCM names, what each can do, and which ones the config uses.

For choosing ``audio.capture_device`` / ``audio.playback_device``. Every PCM ALSA lists (and the two configured
names, even when ALSA does not list them) is opened non-blocking in each direction, queried and closed; see
:mod:`edge_agent.hardware.alsa_devices` for how (a forked child per probe, killed after ``--timeout``).
A device that is busy, missing or hangs is a row with its status, never a crash. Exit status: 0 (also with no
sound cards); 78 when the config given (``--config``, ``$EDGE_AGENT_CONFIG``) is invalid or missing; 1 when
libasound cannot be loaded. A missing config at the default path is not an error here (a fresh install
lists its devices before writing one): the names are then just not marked.

``--json`` prints one object with these keys (stable; ``null`` where not applicable)::

    config:    {path: str, loaded: bool, note: str|null, backend: "pi"|"simulated"|null,
                capture_device: str|null, playback_device: str|null}
    cards:     [{index: int, id: str, name: str}]
    capture:   [PCM]         in ALSA's order, then configured names ALSA does not list
    playback:  [PCM]
    PCM:       {name: str, direction: "capture"|"playback",
                status: "ok"|"busy"|"not found"|"timeout"|"error", error: str|null,
                description: str|null (ALSA's hint, as `aplay -L` shows), listed: bool (in ALSA's list),
                configured: bool (this direction's audio.*_device),
                rates: [int]|null (standard rates, null when continuous), rate_range: [min, max]|null,
                channels: [int]|null (null when the range is too wide to list), channel_range: [min, max]|null,
                formats: [str] (ALSA format names, sorted),
                s16le: [{rate: int, granted_rate: int, granted_channels: int, granted_format: str,
                         as_is: bool}]   one per rate asked for (16000, 48000; S16_LE mono)}

Capability fields are null/empty unless ``status`` is ``ok``. Ranges use ALSA's bounds as is: software
PCMs report huge maxima (rates up to 4294967295), which the table shows as "any".
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from edge_agent.errors import EX_FAILURE, EX_OK
from edge_agent.hardware.alsa_devices import PROBE_TIMEOUT_S, PcmProbe, Survey
from edge_agent.settings import DEFAULT_CONFIG_PATH, Settings, config_path, load_settings

__all__ = ["command", "format_table", "report"]

_ANY = 1_000_000
"""Range bounds at or above this are a software PCM's "anything goes" (shown as "any")."""
_FORMAT_ORDER = ("S16_LE", "S24_LE", "S32_LE", "S24_3LE", "FLOAT_LE")


def command(config: str | None, *, as_json: bool = False, timeout_s: float = PROBE_TIMEOUT_S) -> int:
    """``edge-agent devices [--config PATH] [--json] [--timeout S]``: print the listing; returns the exit code.

    Raises ConfigError (exit 78) for an invalid config, before probing anything. Blocks while probing.
    """
    settings, path, note = _settings(config, os.environ)
    try:
        from edge_agent.hardware.alsa_devices import survey
    except ImportError as e:  # pragma: no cover - libasound/pyalsaaudio missing
        print(f"edge-agent devices: cannot use ALSA: {e}", file=sys.stderr)
        return EX_FAILURE
    capture = settings.audio.capture_device if settings else None
    playback = settings.audio.playback_device if settings else None
    found = survey([capture] if capture else [], [playback] if playback else [], timeout_s)
    data = report(found, settings, path, note)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        format_table(data, sys.stdout)
    return EX_OK


def _settings(config: str | None, environ: Mapping[str, str]) -> tuple[Settings | None, str, str | None]:
    path = config_path(config, environ)
    if path == DEFAULT_CONFIG_PATH and not path.exists():
        return None, str(path), f"no config at {path}: configured devices are not marked"
    return load_settings(path), str(path), None


def report(found: Survey, settings: Settings | None, path: str, note: str | None = None) -> dict[str, Any]:
    """The JSON-able listing (keys in the module docstring). Pure."""
    capture = settings.audio.capture_device if settings else None
    playback = settings.audio.playback_device if settings else None

    def rows(probes: tuple[PcmProbe, ...], configured: str | None) -> list[dict[str, Any]]:
        return [{**dataclasses.asdict(p), "configured": p.name == configured} for p in probes]

    return {
        "config": {
            "path": path,
            "loaded": settings is not None,
            "note": note,
            "backend": settings.hardware.backend if settings else None,
            "capture_device": capture,
            "playback_device": playback,
        },
        "cards": [dataclasses.asdict(c) for c in found.cards],
        "capture": rows(found.capture, capture),
        "playback": rows(found.playback, playback),
    }


def format_table(data: Mapping[str, Any], out: TextIO) -> None:
    """Print :func:`report`'s listing as text: config summary, cards, then a table per direction."""
    cfg = data["config"]
    print(f"Config: {cfg['path']}" + ("" if cfg["loaded"] else f" ({cfg['note']})"), file=out)
    if cfg["backend"] == "simulated":
        print('  hardware.backend = "simulated": the daemon does not use these devices', file=out)
    for direction in ("capture", "playback"):
        name = cfg[f"{direction}_device"]
        if name is not None:
            probe = next((p for p in data[direction] if p["configured"]), None)
            verdict = _verdict(probe) if probe else "not probed"
            print(f'  audio.{direction}_device = "{name}": {verdict}', file=out)
    print("\nSound cards:", file=out)
    if not data["cards"]:
        print("  no sound cards found (only ALSA's software PCMs below)", file=out)
    for card in data["cards"]:
        print(f"  {card['index']:>2}  {card['id']:<16} {card['name']}", file=out)
    for direction in ("capture", "playback"):
        print(f"\n{direction.capitalize()} PCMs (* = audio.{direction}_device):", file=out)
        _table(data[direction], out)


def _verdict(probe: Mapping[str, Any]) -> str:
    if probe["status"] == "ok":
        grants = ", ".join(f"{g['rate']} Hz {_grant(g)}" for g in probe["s16le"])
        return f"found (S16_LE mono: {grants})"
    if probe["status"] == "busy":
        return f"found but busy (in use, by edge-agent itself?): {probe['error']}"
    return f"NOT USABLE ({probe['status']}): {probe['error']}"


def _grant(g: Mapping[str, Any]) -> str:
    """The table cell: yes when granted as asked, else what differs ("2 ch", "44100 Hz", "S32_LE")."""
    if g["as_is"]:
        return "yes"
    differs = [
        f"{g['granted_rate']} Hz" if g["granted_rate"] != g["rate"] else "",
        f"{g['granted_channels']} ch" if g["granted_channels"] != 1 else "",
        g["granted_format"] if g["granted_format"] != "S16_LE" else "",
    ]
    return " ".join(d for d in differs if d)


def _span(values: list[int] | None, bounds: list[int] | None) -> str:
    if values and len(values) <= 6:
        return ",".join(map(str, values))
    if not bounds:
        return "?"
    low, high = bounds
    return str(low) if low == high else f"{low}–{'any' if high >= _ANY else high}"


def _formats(formats: list[str]) -> str:
    shown = [f for f in _FORMAT_ORDER if f in formats][:2] or formats[:2]
    more = len(formats) - len(shown)
    return " ".join(shown) + (f" +{more}" if more else "")


def _table(probes: list[dict[str, Any]], out: TextIO) -> None:
    header = ["", "NAME", "STATUS", "RATES Hz", "CHANNELS", "FORMATS", "16 kHz", "48 kHz", "DESCRIPTION"]
    rows: list[list[str]] = []
    for p in probes:
        mark = "*" if p["configured"] else ""
        name = p["name"] if p["listed"] else f"{p['name']} (not in ALSA's list)"
        if p["status"] != "ok":
            rows.append([mark, name, p["status"], p["error"] or ""])
            continue
        grants = {g["rate"]: _grant(g) for g in p["s16le"]}
        rows.append(
            [
                mark,
                name,
                "ok",
                _span(p["rates"], p["rate_range"]),
                _span(p["channels"], p["channel_range"]),
                _formats(p["formats"]),
                grants.get(16000, "?"),
                grants.get(48000, "?"),
                p["description"] or "",
            ]
        )
    full = [r for r in [header, *rows] if len(r) == len(header)]
    widths = [max(len(r[i]) for r in full) for i in range(len(header) - 1)]
    widths[:3] = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        print(("  " + "  ".join([*cells, row[-1]])).rstrip(), file=out)
