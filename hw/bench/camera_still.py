#!/usr/bin/env python3
"""Take one still with the configured camera and write it to a JPEG file.

SKIP when ``camera.backend = "off"``. The still is scaled like the frames the model gets.

    python3 hw/bench/camera_still.py --config /etc/edge-agent/edge-agent.toml [--out still.jpg]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import benchlib
import simplejpeg

from edge_agent.hardware.camera import open_camera


def main() -> None:
    """Take the still and write it."""
    p = benchlib.parser(__doc__.splitlines()[0])
    default = Path(tempfile.gettempdir()) / "edge-agent-bench" / "still.jpg"
    p.add_argument("--out", type=Path, default=default, help=f"where to write it (default {default})")
    args = p.parse_args()
    s = benchlib.settings(args)
    backend = s.camera.backend
    if backend == "off":
        benchlib.finish(benchlib.SKIP, 'camera.backend = "off"')
    print(f"one still from the {backend} camera ...", flush=True)
    started = time.monotonic()
    try:
        camera = open_camera(backend, s.camera.long_edge_px)
    except Exception as e:  # HardwareError: picamera2 or the camera missing
        benchlib.finish(benchlib.FAIL, f"{backend}: {e}")
    try:
        jpeg = camera.capture_jpeg()
        height, width, _, _ = simplejpeg.decode_jpeg_header(jpeg)
    except Exception as e:
        benchlib.finish(benchlib.FAIL, f"{backend}: {e}")
    finally:
        camera.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(jpeg)
    took = time.monotonic() - started
    benchlib.finish(benchlib.PASS, f"{width}x{height} JPEG, {len(jpeg) / 1024:.0f} KiB in {took:.1f} s: {args.out}")


if __name__ == "__main__":
    main()
