#!/usr/bin/env python3
"""Play a 440 Hz tone (1 s) on the configured speaker.

PASS when the device opens and takes all of it; whether it sounded right is for your ears. The
simulated backend writes it to ``simulated.speaker_wav`` (if set).

    python3 hw/bench/speaker_tone.py --config /etc/edge-agent/edge-agent.toml [--seconds 1]
"""

from __future__ import annotations

import benchlib

from edge_agent.doctor_audio import tone_samples

LEVEL_DBFS = -18.0


def main() -> None:
    """Play the tone one period at a time, as the daemon writes."""
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=1.0, help="tone length (default 1)")
    args = p.parse_args()
    s = benchlib.settings(args)
    device = benchlib.audio(s, capture=False)
    if benchlib.simulated(s):
        name = f"the simulated speaker ({s.simulated.speaker_wav or 'discarded'})"
    else:
        name = repr(s.audio.playback_device)
    print(f"playing {args.seconds:.1f} s of 440 Hz at {LEVEL_DBFS:.0f} dBFS on {name} ...", flush=True)
    try:
        device.open()
        rate = device.playback_rate
        tone = tone_samples(rate, args.seconds, 440.0, LEVEL_DBFS)
        period = max(1, rate * s.audio.period_ms // 1000)
        for start in range(0, tone.size, period):
            device.write(device.to_frames(tone[start : start + period]))
    except Exception as e:  # AudioDeviceError, or libasound missing
        benchlib.finish(benchlib.FAIL, f"{name}: {e}")
    finally:
        device.close()  # ALSA plays out what is queued before closing
    benchlib.finish(benchlib.PASS, f"{name} took {tone.size / rate:.2f} s at {rate} Hz (did you hear a clean beep?)")


if __name__ == "__main__":
    main()
