"""Benchmark baseline (b): the bare cost of driving the sound devices, with nothing else.

A pyalsaaudio loop in lockstep like the daemon's audio thread: read one capture period, write
one period of silence, no network and no processing. Its CPU and RSS are the floor that
``edge-agent bench audio`` compares the daemon's audio path against::

    python -m edge_agent.hardware.baseline_loop --capture pamic --playback paspk --rate 48000 --seconds 20

Devices are ALSA PCM names resolved with the process's ``$ALSA_CONFIG_PATH`` (e.g. a
:class:`edge_agent.bench.pulse.PulseRig`'s ``env``). Prints one JSON line (periods, xruns) and
exits 0; SIGTERM/SIGINT end the loop early, also with 0. Exit 1 on a device error.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

import alsaaudio

PERIODS = 8
"""Periods in each ALSA ring buffer: as the daemon's (``alsa_audio.RING_PERIODS``; a test checks they agree).
Not imported from there, so this process loads nothing but pyalsaaudio."""


def run_loop(capture: str, playback: str, rate: int, period_ms: int, seconds: float) -> dict[str, float | int]:
    """Run the loop for ``seconds`` (blocking, paced by the capture device); return its counts.

    Thread: any (it owns both PCMs). Stops early on SIGTERM/SIGINT when run in the main thread.
    Raises ``alsaaudio.ALSAAudioError`` when a device fails.
    """
    period = rate * period_ms // 1000
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    opts = {
        "rate": rate,
        "channels": 1,
        "format": alsaaudio.PCM_FORMAT_S16_LE,
        "periodsize": period,
        "periods": PERIODS,
    }
    mic = alsaaudio.PCM(alsaaudio.PCM_CAPTURE, alsaaudio.PCM_NORMAL, device=capture, **opts)
    speaker = alsaaudio.PCM(alsaaudio.PCM_PLAYBACK, alsaaudio.PCM_NORMAL, device=playback, **opts)
    silence = bytes(2 * period)
    periods = overruns = underruns = 0
    start = time.monotonic()
    try:
        while not stop and time.monotonic() - start < seconds:
            n, _ = mic.read()
            if n < 0:
                overruns += 1
                continue
            periods += 1
            if speaker.write(silence) < 0:  # -EPIPE: underrun, the chunk was not written
                underruns += 1
                speaker.write(silence)
    finally:
        mic.close()
        speaker.close()
    return {
        "periods": periods,
        "seconds": round(time.monotonic() - start, 3),
        "overruns": overruns,
        "underruns": underruns,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m edge_agent.hardware.baseline_loop", description=__doc__)
    parser.add_argument("--capture", default="default", help="ALSA capture PCM (default: %(default)s)")
    parser.add_argument("--playback", default="default", help="ALSA playback PCM (default: %(default)s)")
    parser.add_argument("--rate", type=int, default=48000, help="sample rate, both devices (default: %(default)s)")
    parser.add_argument("--period-ms", type=int, default=10, help="period length (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to run (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        counts = run_loop(args.capture, args.playback, args.rate, args.period_ms, args.seconds)
    except alsaaudio.ALSAAudioError as e:
        print(f"baseline_loop: {e}", file=sys.stderr)
        return 1
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
