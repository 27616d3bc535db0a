"""Settings sections for the physical side: the camera, the outputs, the volume and the lights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from edge_agent.settings_base import NonEmpty, OutputName, Pin, _as_tuple, _Section
from edge_agent.settings_errors import Expect, show


class CameraSettings(_Section):
    """Camera stills sent to the model as JPEG frames (never while muted)."""

    backend: Literal["off", "picamera2", "simulated"] = "off"
    """"off" = never opened, no frames; "picamera2" = the Pi camera; "simulated" = a moving test pattern."""
    policy: Literal["while_listening", "always", "on_request"] = "while_listening"
    """When frames go out: "while_listening" (the user speaking or just woke it: the cheap choice),
    "always" (whenever connected), "on_request" (only when the model calls look)."""
    max_fps: Annotated[float, Field(gt=0, le=1.0)] = 1.0
    """Frames per second at most; the Live API takes 1 fps at most."""
    long_edge_px: Annotated[int, Field(ge=64, le=3072)] = 768
    """Stills are scaled so the longer side is at most this many pixels (768 = one image tile)."""


OutputKind = Literal["led", "relay", "pwm_led", "rgb_led", "buzzer"]
GroupName = Annotated[
    str,
    Field(pattern=r"^([a-z][a-z0-9_]{0,39})?$"),
    Expect('"" or a group name: a lowercase letter, then up to 39 lowercase letters, digits or _'),
]


def _rule_error(key: str, expected: str, found: str) -> PydanticCustomError:
    """A broken rule between keys, reported like a duplicate: ``key: expected ...; found ...``."""
    return PydanticCustomError(
        "duplicate", "{key}: expected {expected}", {"key": key, "expected": expected, "found": found}
    )


class OutputSettings(_Section):
    """One GPIO output the model can switch: an LED (plain, dimmable or RGB), a relay or a buzzer."""

    name: OutputName
    """Required. Name the model uses for this output (it appears in the tool's enum)."""
    kind: OutputKind
    """Required. "led", "relay", "pwm_led" (dimmable 0..100 %), "rgb_led" (colour; give pins) or "buzzer"."""
    pin: Annotated[Pin, Expect("an integer between 0 and 27 (an rgb_led takes pins = [red, green, blue] instead)")]
    """BCM pin number (0..27). Required, except for rgb_led: there it is pins[0] and may be left out."""
    pins: Annotated[tuple[Pin, ...], BeforeValidator(_as_tuple)] = ()
    """rgb_led only: its [red, green, blue] BCM pins; [] for every other kind."""
    description: str = ""
    """What the output switches, told to the model, e.g. "The kitchen ceiling light"."""
    active_high: bool = True
    """true = the pin is driven high for on; false for active-low relay boards (and common-anode RGB LEDs)."""
    initial: bool = False
    """State at start: true = on (a pwm_led at 100 %, an rgb_led white)."""
    safe: bool = False
    """Safe state, which every exit path (stop, error, signal, crash) leaves it in: false = off, true = on."""
    max_on_s: Annotated[float, Field(ge=0, le=86400)] = 0.0
    """relay only: switched off by itself this many seconds after it goes on; 0 = never."""
    min_interval_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    """relay only: a switch sooner than this after its last one is refused (no chattering); 0 = no limit."""
    interlock: GroupName = ""
    """relay only: a group name; two relays of one group are never on together; "" = none."""

    @model_validator(mode="before")
    @classmethod
    def _pin_from_pins(cls, data: Any) -> Any:
        """An rgb_led's ``pin`` is its red pin, ``pins[0]``, so a config may leave it out."""
        if isinstance(data, Mapping) and data.get("kind") == "rgb_led" and "pin" not in data:
            pins = data.get("pins")
            if isinstance(pins, list | tuple) and pins:
                return {**data, "pin": pins[0]}
        return data

    def pin_keys(self, prefix: str) -> list[tuple[str, int]]:
        """Each BCM pin this output claims, with its dotted key: ``[("outputs[2].pins[0]", 5), ...]``."""
        if self.kind == "rgb_led":
            return [(f"{prefix}.pins[{j}]", pin) for j, pin in enumerate(self.pins)]
        return [(f"{prefix}.pin", self.pin)]

    def problems(self) -> list[tuple[str, str, str]]:
        """Rules between this output's own keys: ``(key, expected, found)`` for each one broken. Pure."""
        found: list[tuple[str, str, str]] = []
        if self.kind == "rgb_led":
            if len(self.pins) != 3:
                found.append(("pins", "3 BCM pins [red, green, blue] for an rgb_led", show(list(self.pins))))
            elif self.pin != self.pins[0]:
                found.append(("pin", f"no pin for an rgb_led, or its red pin pins[0] = {self.pins[0]}", show(self.pin)))
        elif self.pins:
            found.append(("pins", f"[] (pins is for rgb_led; a {self.kind} takes pin)", show(list(self.pins))))
        if self.kind != "relay":
            for key, default in (("max_on_s", 0.0), ("min_interval_s", 0.0), ("interlock", "")):
                if getattr(self, key) != default:
                    found.append((key, f"{default!r} ({key} is for relays only)", show(getattr(self, key))))
        return found


class VolumeSettings(_Section):
    """The speaker volume the model can read and set (get_volume, set_volume), through an ALSA mixer."""

    enabled: bool = True
    """false = no volume tools for the model."""
    mixer_control: NonEmpty = "Master"
    """ALSA simple mixer control, e.g. "Master", "PCM", "Speaker" (list them: amixer -D DEVICE scontrols)."""
    mixer_device: NonEmpty = "default"
    """ALSA control device holding it, e.g. "default" or "hw:CARD=Headphones"."""


SPI_PINS: dict[int, dict[str, int]] = {
    0: {"MISO": 9, "MOSI": 10, "SCLK": 11, "CE0": 8, "CE1": 7},
    1: {"MISO": 19, "MOSI": 20, "SCLK": 21, "CE0": 18, "CE1": 17, "CE2": 16},
}
"""BCM pins of the SPI buses the kernel claims (dtparam=spi=on: all of SPI0; spi1-Ncs: SPI1 and its CEs)."""


class LightsSettings(_Section):
    """Status lights (what the speaker is doing) and the camera privacy light; see hw/README.md for wiring."""

    kind: Literal["none", "led", "rgb_led", "apa102"] = "none"
    """"none"; "led" (one LED on pin, dimmable); "rgb_led" (pins = [red, green, blue]); "apa102" (pixels on SPI)."""
    pin: Pin | None = None
    """kind = "led": its BCM pin (ignored by the other kinds)."""
    pins: Annotated[tuple[Pin, ...], BeforeValidator(_as_tuple)] = ()
    """kind = "rgb_led": its [red, green, blue] BCM pins (ignored by the other kinds)."""
    active_high: bool = True
    """true = a pin driven high lights the LED; false for a common-anode RGB LED or an LED wired to 3.3 V."""
    brightness: Annotated[int, Field(ge=0, le=100)] = 50
    """Brightness of the status lights in percent (0 = dark); the privacy light is always full on."""
    privacy_pin: Pin | None = None
    """BCM pin of an LED lit while camera frames may be sent; leave it out for none (an apa102 ring then
    reserves its last pixel, green, when the camera is on)."""
    apa102_pixels: Annotated[int, Field(ge=1, le=255)] = 3
    """kind = "apa102": pixels in the chain (the ReSpeaker 2-Mics HAT has 3)."""
    spi_bus: Annotated[int, Field(ge=0, le=6)] = 0
    """kind = "apa102": SPI bus (/dev/spidevBUS.DEVICE; enable SPI0 with dtparam=spi=on)."""
    spi_device: Annotated[int, Field(ge=0, le=3)] = 0
    """kind = "apa102": SPI chip select; APA102 pixels ignore it, but the device node must exist."""

    @model_validator(mode="after")
    def _check_kind(self) -> LightsSettings:
        if self.kind == "led" and self.pin is None:
            raise _rule_error("lights.pin", 'a BCM pin (0..27) for kind = "led"', "nothing (the key is missing)")
        if self.kind == "rgb_led" and len(self.pins) != 3:
            expected = 'three BCM pins [red, green, blue] for kind = "rgb_led"'
            raise _rule_error("lights.pins", expected, show(list(self.pins)))
        return self

    def pin_keys(self) -> list[tuple[str, int]]:
        """Each BCM pin the lights claim, with the key that claims it: ``[("lights.pin", 18), ...]``.

        An apa102 chain on SPI0 or SPI1 claims that bus's pins (the kernel's, not gpiozero's): they must
        not be given to anything else either. Pins of other buses are not checked.
        """
        keys: list[tuple[str, int]] = []
        if self.kind == "led" and self.pin is not None:
            keys.append(("lights.pin", self.pin))
        elif self.kind == "rgb_led":
            keys += [(f"lights.pins[{j}]", pin) for j, pin in enumerate(self.pins)]
        elif self.kind == "apa102":
            keys += [(f"lights.spi_bus (SPI{self.spi_bus} {name})", pin) for name, pin in self._spi_pins().items()]
        if self.privacy_pin is not None:
            keys.append(("lights.privacy_pin", self.privacy_pin))
        return keys

    def _spi_pins(self) -> dict[str, int]:
        pins = SPI_PINS.get(self.spi_bus, {})
        if self.spi_bus == 1:  # spi1-Ncs claims only the chip selects up to the one used
            pins = {n: pin for n, pin in pins.items() if not n.startswith("CE") or int(n[2:]) <= self.spi_device}
        return pins
