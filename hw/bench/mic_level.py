#!/usr/bin/env python3
"""Capture a few seconds from the configured microphone and print its level.

PASS when the device opens, delivers the expected amount of audio in time and is not digitally silent
(below -90 dBFS). Speak or clap while it runs: speech near the device is typically -40 to -20 dBFS.

    python3 hw/bench/mic_level.py --config /etc/edge-agent/edge-agent.toml [--seconds 3]
"""

from __future__ import annotations

import time

import benchlib
import numpy as np

from edge_agent.pcm import rms_dbfs

SILENCE_DBFS = -90.0


def main() -> None:
    """Capture, then judge the amount and the level."""
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="how long to capture (default 3)")
    args = p.parse_args()
    s = benchlib.settings(args)
    device = benchlib.audio(s, capture=True)
    name = "the simulated microphone" if benchlib.simulated(s) else repr(s.audio.capture_device)
    print(f"capturing {args.seconds:.1f} s from {name} ...", flush=True)
    try:
        device.open()
        rate = device.capture_rate
        want = round(rate * args.seconds)
        chunks, got = [], 0
        deadline = time.monotonic() + args.seconds * 2 + 2
        while got < want and time.monotonic() < deadline:
            chunk = device.to_samples(device.read())
            chunks.append(chunk)
            got += chunk.size
    except Exception as e:  # AudioDeviceError, or libasound missing
        benchlib.finish(benchlib.FAIL, f"{name}: {e}")
    finally:
        device.close()
    samples = np.concatenate(chunks)[:want] if chunks else np.zeros(0, dtype=np.int16)
    level = rms_dbfs(samples)
    peak = int(np.max(np.abs(samples.astype(np.int32)))) if samples.size else 0
    peak_db = 20 * np.log10(max(peak, 1) / 32768)
    summary = f"{name}: {samples.size / rate:.2f} s at {rate} Hz, level {level:.1f} dBFS, peak {peak_db:.1f} dBFS"
    if got < want * 0.9:
        benchlib.finish(benchlib.FAIL, f"{summary}: only {got} of {want} samples arrived in time")
    if level < SILENCE_DBFS:
        benchlib.finish(benchlib.FAIL, f"{summary}: digital silence (is the microphone muted or unplugged?)")
    benchlib.finish(benchlib.PASS, summary)


if __name__ == "__main__":
    main()
