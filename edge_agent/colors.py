"""Colour names and ``#rrggbb`` for RGB outputs: parsing, naming and the table the model is told.

A colour here is a hue and saturation only: :func:`parse_color` scales it so its
brightest channel is full (``#804020`` becomes ``#ff8040``), because brightness is
set separately (``set_brightness``). Black has no hue and is refused: switching an
output off is ``set_output(name, false)``. Pure: no I/O, no hardware.
"""

from __future__ import annotations

import re

RGB = tuple[float, float, float]
"""Red, green, blue, each 0..1."""

COLORS: dict[str, str] = {
    "white": "#ffffff",
    "warm white": "#ffa757",
    "cool white": "#d4e4ff",
    "red": "#ff0000",
    "orange": "#ff8000",
    "amber": "#ffbf00",
    "yellow": "#ffff00",
    "lime": "#80ff00",
    "green": "#00ff00",
    "turquoise": "#00ffc0",
    "cyan": "#00ffff",
    "blue": "#0000ff",
    "purple": "#8000ff",
    "magenta": "#ff00ff",
    "pink": "#ff4080",
}
"""The colour names the model may use, each with the (full-brightness) colour it shows."""

_HEX = re.compile(r"^#([0-9a-f]{6})$")


def color_help() -> str:
    """The accepted forms in one sentence, for tool declarations and error messages."""
    return f"a colour name ({', '.join(COLORS)}) or #rrggbb"


def parse_color(text: str) -> RGB:
    """Return the colour named by ``text`` at full brightness. Raises ValueError naming the accepted forms.

    Case, surrounding space, ``_`` and ``-`` between words do not matter ("Warm_White" = "warm white").
    """
    key = " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())
    code = COLORS.get(key, key)
    match = _HEX.match(code)
    if match is None:
        raise ValueError(f"unknown colour {text!r}: use {color_help()}")
    rgb = tuple(int(match[1][i : i + 2], 16) / 255 for i in (0, 2, 4))
    top = max(rgb)
    if top == 0:
        raise ValueError("#000000 is no colour: switch the output off with set_output instead")
    red, green, blue = (channel / top for channel in rgb)
    return (red, green, blue)


def to_hex(rgb: RGB) -> str:
    """``(1.0, 0.5, 0.0)`` → ``"#ff8000"`` (each channel rounded to 8 bits)."""
    return "#" + "".join(f"{round(min(1.0, max(0.0, c)) * 255):02x}" for c in rgb)


def describe(hex_code: str) -> str:
    """The colour's name if the table has it exactly, else the ``#rrggbb`` code itself."""
    for name, code in COLORS.items():
        if code == hex_code:
            return name
    return hex_code
