#!/usr/bin/env python3
"""Switch every configured output on and off once, then walk the status and privacy lights.

Watch each part as its line is printed: the [[outputs]] one by one (each read back from its pin), then
the status lights red, green, blue, and the privacy light. Everything ends off. Nothing is switched that
the config does not name. SKIP when nothing is configured.

    python3 hw/bench/gpio_walk.py --config /etc/edge-agent/edge-agent.toml [--pause 1]
"""

from __future__ import annotations

import time

import benchlib

from edge_agent.hardware.gpio import Outputs
from edge_agent.hardware.lights import open_lights
from edge_agent.lights import Effect, LightPattern, Lights, LightState
from edge_agent.settings import Settings

# A walk switches on and off within a second: relay rules meant for the daemon would refuse that.
_WALK = {"initial": False, "max_on_s": 0.0, "min_interval_s": 0.0, "interlock": ""}
_COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def main() -> None:
    """Walk the outputs, then the lights."""
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--pause", type=float, default=1.0, help="seconds each part stays on (default 1)")
    args = p.parse_args()
    s = benchlib.settings(args)
    if not s.outputs and s.lights.kind == "none" and s.lights.privacy_pin is None:
        benchlib.finish(benchlib.SKIP, "no [[outputs]] and no [lights]")
    factory = benchlib.pin_factory(s)
    walked: list[str] = []
    try:
        for out in s.outputs:
            walk = out.model_copy(update={k: v for k, v in _WALK.items() if k in type(out).model_fields})
            outputs = Outputs([walk], pin_factory=factory)
            try:
                print(f"{out.name} ({out.kind}, BCM {out.pin}): on", flush=True)
                outputs.set(out.name, True)
                on = outputs.state(out.name)
                time.sleep(args.pause)
                outputs.set(out.name, False)
                off = not outputs.state(out.name)
                print(f"{out.name} (BCM {out.pin}): off", flush=True)
            finally:
                outputs.close()
            if not (on and off):
                benchlib.finish(benchlib.FAIL, f"{out.name} (BCM {out.pin}) read back {'off' if not on else 'on'}")
            walked.append(out.name)
        if s.lights.kind != "none" or s.lights.privacy_pin is not None:
            walked += _walk_lights(s, factory, args.pause)
    except Exception as e:  # HardwareError (a pin taken, no SPI), OutputRefused
        benchlib.finish(benchlib.FAIL, f"{type(e).__name__}: {e}")
    finally:
        benchlib.close_factory(factory)
    benchlib.finish(benchlib.PASS, f"switched on and off: {', '.join(walked)}")


def _walk_lights(s: Settings, factory: object, pause: float) -> list[str]:
    camera = s.camera.backend != "off"
    transfer = (lambda data: None) if benchlib.simulated(s) and s.lights.kind == "apa102" else None
    lights = open_lights(s.lights, camera_enabled=camera, pin_factory=factory, transfer=transfer)
    walked = []
    try:
        if s.lights.kind != "none":
            for word, color in _COLORS.items():
                print(f"status lights ({s.lights.kind}): {word}", flush=True)
                lights.show(Lights(LightState.LISTENING, LightPattern(color, Effect.SOLID), privacy=False))
                time.sleep(pause)
            walked.append(f"status lights ({s.lights.kind})")
        if lights.privacy is not None:
            print("privacy light: on", flush=True)
            lights.show(Lights(LightState.OFF, LightPattern((0, 0, 0), Effect.OFF, level=0.0), privacy=True))
            time.sleep(pause)
            walked.append("privacy light")
    finally:
        lights.close()
    print("lights: off", flush=True)
    return walked


if __name__ == "__main__":
    main()
