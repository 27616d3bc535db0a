"""Shared by the bench scripts: the --config option, the devices a config names, the result line.

Each script prints what it does, then one last line ``PASS: ...``, ``FAIL: ...`` or ``SKIP: ...`` and
exits 0, 1 or 77 (``run_all.py`` reads both). The simulated backend (``hardware.backend =
"simulated"``) gets the same stand-ins the daemon uses, so the scripts also run off the Pi.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from edge_agent.audio_device import AudioDevice
from edge_agent.errors import EdgeAgentError
from edge_agent.settings import Settings, config_path, load_settings

PASS, FAIL, SKIP = 0, 1, 77
"""Exit codes: 77 is the automake convention for a test that does not apply."""
_WORDS = {PASS: "PASS", FAIL: "FAIL", SKIP: "SKIP"}


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--config`` (default: $EDGE_AGENT_CONFIG, then /etc/edge-agent/edge-agent.toml)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", help="edge-agent config file (default: $EDGE_AGENT_CONFIG or the installed one)")
    return p


def settings(args: argparse.Namespace) -> Settings:
    """Load the config named by ``--config``; a broken one ends the script with FAIL."""
    path = config_path(args.config, os.environ)
    try:
        return load_settings(path)
    except EdgeAgentError as e:
        finish(FAIL, f"configuration: {e}")


def simulated(s: Settings) -> bool:
    """True on the simulated backend (no real devices)."""
    return s.hardware.backend == "simulated"


def pin_factory(s: Settings) -> Any:
    """The pin factory for ``s``: mock pins when simulated, lgpio on a Pi 5, else None (gpiozero's default)."""
    if simulated(s):
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    from edge_agent.hardware.pin_factory import default_pin_factory, read_model

    return default_pin_factory(os.environ, read_model())


def close_factory(factory: Any) -> None:
    """Close a pin factory made by :func:`pin_factory` (None: gpiozero's default, closed at exit)."""
    if factory is not None:
        factory.close()


def audio(s: Settings, *, capture: bool) -> AudioDevice:
    """The audio device of ``s`` for one direction: the other side is ALSA's "null" (or nothing, simulated).

    Simulated: the microphone plays ``simulated.mic_wav`` from its start (no ``mic_start_s`` silence), the
    speaker writes ``simulated.speaker_wav`` (if set).
    """
    if simulated(s):
        import numpy as np

        from edge_agent.hardware.simulated import MIC_RATE, SimulatedAudio, read_wav_mono

        sim = s.simulated
        mic = None
        if capture:
            mic = np.zeros(0, dtype=np.int16)
            if sim.mic_wav is not None:
                mic = read_wav_mono(sim.mic_wav, MIC_RATE, source=s.source, key="simulated.mic_wav")
        speaker = None if capture else sim.speaker_wav
        return SimulatedAudio(mic, speaker, period_ms=s.audio.period_ms, source=s.source)
    from edge_agent.hardware.alsa_audio import AlsaAudio  # lazy: needs libasound

    other = {"playback_device": "null"} if capture else {"capture_device": "null"}
    return AlsaAudio(s.audio.model_copy(update=other))


def finish(status: int, message: str) -> NoReturn:
    """Print the result line and exit with its code."""
    print(f"{_WORDS[status]}: {message}", flush=True)
    sys.exit(status)
