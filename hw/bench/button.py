#!/usr/bin/env python3
"""Wait up to 10 s for a press of the configured button.

SKIP when there is no ``button.pin``. On the simulated backend the script presses the mock button
itself (after 0.2 s), which checks the pin claim and gpiozero's edge detection, not your finger.

    python3 hw/bench/button.py --config /etc/edge-agent/edge-agent.toml [--timeout 10]
"""

from __future__ import annotations

import threading
import time

import benchlib

from edge_agent.hardware.gpio import ButtonInput


def main() -> None:
    """Wait for the press; the result line says how long it took."""
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the press (default 10)")
    args = p.parse_args()
    s = benchlib.settings(args)
    pin = s.button.pin
    if pin is None:
        benchlib.finish(benchlib.SKIP, "no button.pin")
    factory = benchlib.pin_factory(s)
    pressed = threading.Event()
    try:
        button = ButtonInput(s.button, lambda what: pressed.set() if what == "pressed" else None, pin_factory=factory)
    except Exception as e:  # HardwareError: the pin is taken
        benchlib.close_factory(factory)
        benchlib.finish(benchlib.FAIL, str(e))
    started = time.monotonic()
    try:
        if benchlib.simulated(s):
            print(f"simulated backend: pressing the mock button on BCM {pin}", flush=True)
            mock = factory.pin(pin)
            threading.Timer(0.2, mock.drive_low if s.button.pull_up else mock.drive_high).start()
        else:
            print(f"press the button (BCM {pin}) within {args.timeout:.0f} s ...", flush=True)
        ok = pressed.wait(args.timeout)
    finally:
        button.close()
        benchlib.close_factory(factory)
    if not ok:
        benchlib.finish(benchlib.FAIL, f"no press on BCM {pin} within {args.timeout:.0f} s")
    benchlib.finish(benchlib.PASS, f"pressed after {time.monotonic() - started:.1f} s (BCM {pin})")


if __name__ == "__main__":
    main()
