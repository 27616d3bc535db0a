"""Watching client messages for a script step's trigger (pure: no asyncio, no sockets).

:func:`watch` builds a fresh :class:`Watcher` for a message trigger each time a step starts
waiting; the runner feeds it every client message until it fires. Among them the energy VAD
behind :class:`~edge_agent.live.fake_steps.OnSpeechEnd`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edge_agent.live.fake_steps import After, OnAudio, OnSetup, OnSpeechEnd, OnText, OnToolResponse, Trigger
from edge_agent.live.fake_wire import ClientMessage


class Watcher(Protocol):
    """Watches client messages for one trigger; built fresh each time a step starts waiting."""

    def feed(self, message: ClientMessage) -> bool:
        """Take the next client message; return True when the trigger fires."""


def watch(trigger: Trigger) -> Watcher:
    """Return a fresh watcher for a message trigger (:class:`After` is the runner's business)."""
    match trigger:
        case OnSetup():
            return _KindWatcher("setup")
        case OnSpeechEnd():
            return _SpeechEndWatcher(trigger)
        case OnAudio(seconds=seconds):
            return _AudioWatcher(seconds)
        case OnToolResponse():
            return _KindWatcher("toolResponse")
        case OnText():
            return _KindWatcher("realtimeInput", "text")
        case After():
            raise ValueError("After watches the clock, not client messages")


@dataclass
class _KindWatcher:
    kind: str
    sub: str | None = None

    def feed(self, message: ClientMessage) -> bool:
        return message.kind == self.kind and (self.sub is None or message.sub == self.sub)


@dataclass
class _AudioWatcher:
    seconds: float
    heard_s: float = 0.0

    def feed(self, message: ClientMessage) -> bool:
        self.heard_s += len(message.pcm()) / (2 * message.pcm_rate())
        return self.heard_s >= self.seconds - 1e-9  # ten 0.1 s chunks add up to 0.9999…


@dataclass
class _SpeechEndWatcher:
    trigger: OnSpeechEnd
    speech_ms: int = 0
    quiet_ms: int = 0
    carry: np.ndarray[Any, np.dtype[np.float64]] = dataclasses.field(
        default_factory=lambda: np.zeros(0, dtype=np.float64)
    )

    def feed(self, message: ClientMessage) -> bool:
        if message.kind == "realtimeInput" and message.sub == "activityEnd":
            return True
        if message.kind == "realtimeInput" and message.sub == "audioStreamEnd":
            return self.speech_ms >= self.trigger.min_speech_ms
        pcm = message.pcm()
        if not pcm:
            return False
        window = message.pcm_rate() // 50  # 20 ms
        samples = np.concatenate([self.carry, np.frombuffer(pcm, dtype="<i2").astype(np.float64)])
        count = samples.size // window
        self.carry = samples[count * window :]
        rms = np.sqrt(np.mean(samples[: count * window].reshape(count, window) ** 2, axis=1))
        loud = 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0) > self.trigger.threshold_dbfs
        for is_loud in loud.tolist():  # one iteration per 20 ms window, not per sample
            if is_loud:
                self.speech_ms, self.quiet_ms = self.speech_ms + 20, 0
                continue
            self.quiet_ms += 20
            if self.quiet_ms >= self.trigger.silence_ms:
                if self.speech_ms >= self.trigger.min_speech_ms:
                    return True
                self.speech_ms = 0  # a click, not speech: start over
        return False
