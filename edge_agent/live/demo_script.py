"""The demo conversation the fake Live server plays (``edge-agent demo``, ``--script demo``).

The user asks for the kitchen light; the model answers, calls ``set_output`` to switch
the LED on, waits for the tool response and confirms. The voices are short espeak-ng
clips shipped in ``edge_agent/assets`` (regenerate with ``scripts/make_demo_audio.sh``).
"""

from __future__ import annotations

import wave
from importlib import resources

from edge_agent.live.fake_script import (
    Audio,
    FunctionCallSpec,
    GenerationComplete,
    InputTranscript,
    OnSpeechEnd,
    OnToolResponse,
    Script,
    Step,
    ToolCall,
    TurnComplete,
)

QUESTION = "Please turn on the kitchen light."
REPLY_1 = "Sure, turning on the kitchen light."
REPLY_2 = "Done. The kitchen light is on."
LIGHT = "kitchen_light"


def asset_pcm(name: str) -> bytes:
    """The PCM frames of a packaged WAV asset (16-bit mono)."""
    with resources.as_file(resources.files("edge_agent") / "assets" / name) as path, wave.open(str(path)) as w:
        frames: bytes = w.readframes(w.getnframes())
    return frames


def demo_script() -> Script:
    """Question in → spoken reply + tool call → tool response → spoken confirmation."""
    return Script(
        steps=(
            Step(
                on=OnSpeechEnd(),
                do=(
                    InputTranscript(QUESTION, finished=True),
                    Audio(asset_pcm("demo_reply_1.wav"), parts_per_message=2, transcript=REPLY_1),
                    ToolCall((FunctionCallSpec("set_output", {"name": LIGHT, "on": True}),)),
                ),
            ),
            Step(
                on=OnToolResponse(),
                do=(
                    Audio(asset_pcm("demo_reply_2.wav"), transcript=REPLY_2),
                    GenerationComplete(),
                    TurnComplete(),
                ),
            ),
        )
    )
