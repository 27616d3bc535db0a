"""Rendering a control-socket ``status`` response for people: the output of ``edge-agent ctl status``.

:func:`format_status` turns the daemon's JSON object into aligned lines, known keys
(:data:`STATUS_ORDER`) first. Pure: no I/O. :mod:`edge_agent.control` re-exports both names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["STATUS_ORDER", "format_status"]

STATUS_ORDER = ("phase", "muted", "connection", "model", "uptime_s", "last_error", "tokens", "audio", "outputs")
"""``ctl status`` shows these keys first, in this order; any other key follows, sorted."""


def format_status(status: Mapping[str, Any]) -> str:
    """Render a ``status`` response as aligned, readable lines (no trailing newline). Pure.

    Known keys (:data:`STATUS_ORDER`) come first in a fixed order, unknown keys after them
    alphabetically; ``ok`` is left out. Nested objects become indented blocks. Booleans read
    ``yes``/``no``, None ``-``; ``*_s`` keys are durations and ``*_ms`` keys milliseconds.
    """
    known = [key for key in STATUS_ORDER if key in status]
    unknown = sorted(key for key in status if key not in STATUS_ORDER and key != "ok")
    return "\n".join(_block({key: status[key] for key in known + unknown}, indent=""))


def _block(items: Mapping[str, Any], indent: str) -> list[str]:
    labels = {key: _label(key) for key in items}
    width = max((len(label) for label in labels.values()), default=0) + 2
    lines: list[str] = []
    for key, value in items.items():
        head = f"{indent}{labels[key] + ':':<{width}}"
        if isinstance(value, Mapping) and value:
            lines.append(head.rstrip())
            lines.extend(_block(value, indent + "  "))
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            lines.append(head.rstrip())
            lines.extend(f"{indent}  - {_value('', item)}" for item in value)
        else:
            lines.append(f"{head}{_value(key, value)}")
    return lines


def _label(key: str) -> str:
    """``last_error`` → ``Last error``, ``uptime_s`` → ``Uptime`` (the value shows the unit)."""
    stem = key.removesuffix("_ms").removesuffix("_s") or key
    return stem.replace("_", " ").capitalize()


def _value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and key.endswith("_ms"):
        return f"{value:.0f} ms"
    if isinstance(value, int | float) and key.endswith("_s"):
        return _duration(float(value))
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_value(k, v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_value(key, item) for item in value) or "-"
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
