"""Which gpiozero pin factory to use: lgpio on a Raspberry Pi 5 unless the user chose one.

A Pi 5's GPIO sits on the RP1 chip, which RPi.GPIO and gpiozero's native factory cannot drive
(RPi.GPIO fails with "Cannot determine SOC peripheral base address"), and gpiozero's automatic
choice has regressed before (gpiozero #1172, #1229). So on a board whose device-tree model names a
Pi 5 (also the Pi 500 and the Compute Module 5, the other RP1 boards) edge-agent asks for
``lgpio`` itself. ``$GPIOZERO_PIN_FACTORY``, when set, always wins; on every other board
gpiozero's own default stays. See hw/README.md.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.errors import HardwareError

MODEL_PATH = Path("/proc/device-tree/model")
"""The board's model string, NUL-terminated (e.g. "Raspberry Pi 5 Model B Rev 1.0")."""
ENV = "GPIOZERO_PIN_FACTORY"

_RP1_BOARD = re.compile(r"^Raspberry Pi (5|500|Compute Module 5)\b")


def read_model(path: Path = MODEL_PATH) -> str | None:
    """The device-tree model text without its trailing NUL, or None when unreadable (not a Pi). Blocks briefly."""
    try:
        return path.read_bytes().rstrip(b"\0").decode("utf-8", "replace").strip()
    except OSError:
        return None


def choose_pin_factory(environ: Mapping[str, str], model_text: str | None) -> str | None:
    """The pin factory edge-agent should ask gpiozero for, or None to leave gpiozero's choice. Pure.

    "lgpio" when ``model_text`` names a Pi 5 (or Pi 500, CM5) and ``GPIOZERO_PIN_FACTORY`` is unset or
    empty; None otherwise (the user's setting, or gpiozero's default on other boards).
    """
    if environ.get(ENV, "").strip():
        return None
    if model_text is not None and _RP1_BOARD.match(model_text.strip().rstrip("\0")):
        return "lgpio"
    return None


def open_pin_factory(name: str) -> Any:
    """Create gpiozero's pin factory registered as ``name`` (e.g. "lgpio"). Close it when done.

    Raises HardwareError when no such factory is installed or it cannot start (lgpio comes from apt
    ``python3-lgpio`` on Raspberry Pi OS, visible with a --system-site-packages virtualenv).
    """
    for entry in importlib.metadata.entry_points(group="gpiozero_pin_factories"):
        if entry.name.lower() == name.lower():
            try:
                return entry.load()()
            except Exception as e:  # ImportError (lgpio missing) or the factory's own start-up error
                raise HardwareError(
                    f"cannot start gpiozero's {name} pin factory: {type(e).__name__}: {e} "
                    "(on Raspberry Pi OS: apt install python3-lgpio, virtualenv with --system-site-packages)"
                ) from e
    raise HardwareError(f"gpiozero has no pin factory named {name!r}")


def default_pin_factory(environ: Mapping[str, str], model_text: str | None) -> Any:
    """The pin factory for the Pi backend: a new lgpio factory on a Pi 5, else None (gpiozero's default).

    The caller owns a returned factory and closes it on exit.
    """
    name = choose_pin_factory(environ, model_text)
    return open_pin_factory(name) if name is not None else None
