"""Build the hardware for a configuration: ``pi`` (real devices) or ``simulated``.

Vendor libraries load lazily: ``alsaaudio`` only for the ``pi`` backend, so the
simulated backend runs anywhere gpiozero and numpy do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge_agent.audio_device import AudioDevice
from edge_agent.hardware.gpio import ButtonEvent, ButtonInput, Outputs, SwitchInput
from edge_agent.hardware.lights import StatusLights, open_lights
from edge_agent.hardware.outputs_safety import Schedule
from edge_agent.hardware.pin_factory import default_pin_factory, read_model
from edge_agent.hardware.simulated import MIC_RATE, GpioLog, SimulatedAudio, read_wav_mono
from edge_agent.settings import Settings

_LOGGER = logging.getLogger(__name__)


@dataclass
class Hardware:
    """Everything physical the daemon drives. Close it on every exit path."""

    audio: AudioDevice
    outputs: Outputs
    button: ButtonInput | None = None
    pin_factory: Any = None
    """The gpiozero pin factory (a MockFactory for the simulated backend; None = gpiozero's default)."""
    gpio_log: GpioLog | None = None
    button_presses_s: tuple[float, ...] = field(default_factory=tuple)
    """Simulated backend: seconds after start at which to tap the button."""
    mute_switch: SwitchInput | None = None
    lights: StatusLights = field(default_factory=StatusLights)
    """The status lights and the privacy light (dark and inert when none are configured)."""

    def tap_button(self) -> None:
        """Press and release the simulated button (drives the mock pin). Thread: event loop."""
        self.press_button(True)
        self.press_button(False)

    def press_button(self, down: bool) -> None:
        """Push (True) or let go of (False) the simulated button. Thread: event loop."""
        if not isinstance(self.pin_factory, MockFactory) or self.button is None:
            raise RuntimeError("only a simulated button can be pressed in software")
        pin = self.pin_factory.pin(self.button.pin)
        if down == self.button.pull_up:  # pulled up: pressing pulls the pin low
            pin.drive_low()
        else:
            pin.drive_high()

    def set_mute_switch(self, closed: bool) -> None:
        """Move the simulated mute switch (True = mute position). Thread: event loop."""
        if not isinstance(self.pin_factory, MockFactory) or self.mute_switch is None:
            raise RuntimeError("only a simulated switch can be moved in software")
        pin = self.pin_factory.pin(self.mute_switch.pin)
        if closed:
            pin.drive_low()
        else:
            pin.drive_high()

    def close(self) -> None:
        """Outputs to their safe state, lights off, pins released, logs closed. Idempotent."""
        self.lights.close()
        self.outputs.close()
        if self.mute_switch is not None:
            self.mute_switch.close()
            self.mute_switch = None
        if self.button is not None:
            self.button.close()
            self.button = None
        if self.gpio_log is not None:
            self.gpio_log.close()
            self.gpio_log = None
        if self.pin_factory is not None:
            self.pin_factory.close()
            self.pin_factory = None


def open_hardware(
    settings: Settings,
    *,
    on_button: ButtonEvent,
    on_mute_switch: Callable[[bool], None] | None = None,
    schedule: Schedule | None = None,
) -> Hardware:
    """Open the configured backend. ``on_button`` runs in a gpiozero thread (see ButtonInput).

    Raises ConfigError (bad simulated file paths) or HardwareError (pins taken).
    The audio device itself is opened later, by the audio thread, with retries.
    """
    gpio_log: GpioLog | None = None
    audio: AudioDevice
    if settings.hardware.backend == "simulated":
        sim = settings.simulated
        pin_factory: Any = MockFactory(pin_class=MockPWMPin)
        mic = None
        if sim.mic_wav is not None:
            mic = read_wav_mono(sim.mic_wav, MIC_RATE, source=settings.source, key="simulated.mic_wav")
            lead = np.zeros(round(sim.mic_start_s * MIC_RATE), dtype=np.int16)
            mic = np.concatenate([lead, mic])
        audio = SimulatedAudio(mic, sim.speaker_wav, period_ms=settings.audio.period_ms, source=settings.source)
        if sim.gpio_log is not None:
            gpio_log = GpioLog(sim.gpio_log, source=settings.source)
        presses = tuple(sim.button_presses_s)
    else:
        from edge_agent.hardware.alsa_audio import AlsaAudio  # lazy: needs libasound

        # gpiozero's default, except lgpio on a Pi 5 (its auto-detection has failed there; hw/README.md).
        pin_factory = default_pin_factory(os.environ, read_model())
        audio = AlsaAudio(settings.audio)
        presses = ()
    outputs = None
    try:
        outputs = Outputs(settings.outputs, pin_factory=pin_factory, on_change=gpio_log, schedule=schedule)
        button = switch = None
        if settings.button.pin is not None:
            button = ButtonInput(settings.button, on_button, pin_factory=pin_factory)
        if settings.mute_switch.pin is not None and on_mute_switch is not None:
            switch = SwitchInput(
                settings.mute_switch.pin, settings.mute_switch.pull_up, on_mute_switch, pin_factory=pin_factory
            )
        simulated_spi = settings.hardware.backend == "simulated" and settings.lights.kind == "apa102"
        lights = open_lights(
            settings.lights,
            camera_enabled=settings.camera.backend != "off",
            pin_factory=pin_factory,
            transfer=(lambda _data: None) if simulated_spi else None,
        )
    except BaseException:
        if outputs is not None:
            outputs.close()
        if gpio_log is not None:
            gpio_log.close()
        audio.close()
        raise
    _LOGGER.info("hardware backend: %s", settings.hardware.backend)
    return Hardware(audio, outputs, button, pin_factory, gpio_log, presses, switch, lights)
