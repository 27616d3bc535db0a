"""The speaker volume: an ALSA simple mixer control through pyalsaaudio, and an in-memory stand-in.

:func:`open_alsa_mixer` is the :data:`MixerFactory` for real hardware; it imports ``alsaaudio``
lazily and turns every ALSA failure into :class:`MixerError` naming the control, the device and
the controls that device does have. :class:`SimulatedMixer` behaves like ``alsaaudio.Mixer`` for
``getvolume``/``setvolume`` and records every change, for the simulated backend and the tests.
A mixer is opened per use and closed at once, so a sound card that appears later still works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from edge_agent.errors import HardwareError


class MixerError(HardwareError):
    """The mixer control is missing or refused a read or write; the message names control and device."""


class Mixer(Protocol):
    """The part of ``alsaaudio.Mixer`` used here. Blocks briefly (ALSA control calls, no audio I/O)."""

    def getvolume(self) -> list[int]:
        """Playback volume of each channel, in percent."""

    def setvolume(self, volume: int) -> None:
        """Set every channel's playback volume, in percent."""

    def close(self) -> None:
        """Release the control device."""


MixerFactory = Callable[[str, str], Mixer]
"""``factory(control, device)`` opens ``control`` on ALSA control ``device``; raises MixerError."""


class _AlsaMixer:
    """An opened ``alsaaudio.Mixer`` whose errors come out as :class:`MixerError`."""

    def __init__(self, mixer: Any, error: type[Exception], where: str) -> None:
        self._mixer = mixer
        self._error = error
        self._where = where

    def getvolume(self) -> list[int]:
        try:
            return [int(v) for v in self._mixer.getvolume()]
        except self._error as e:
            raise MixerError(f"cannot read the volume of {self._where}: {e}") from e

    def setvolume(self, volume: int) -> None:
        try:
            self._mixer.setvolume(volume)
        except self._error as e:
            raise MixerError(f"cannot set the volume of {self._where}: {e}") from e

    def close(self) -> None:
        self._mixer.close()


def open_alsa_mixer(control: str, device: str) -> Mixer:
    """Open ALSA simple mixer ``control`` on control device ``device``. Raises MixerError."""
    where = f"mixer control {control!r} on ALSA device {device!r}"
    try:
        import alsaaudio  # lazy: needs libasound, only where a volume is set
    except ImportError as e:
        raise MixerError(f"cannot use {where}: pyalsaaudio is not available ({e})") from e
    try:
        return _AlsaMixer(alsaaudio.Mixer(control, device=device), alsaaudio.ALSAAudioError, where)
    except alsaaudio.ALSAAudioError as e:
        try:
            there = ", ".join(alsaaudio.mixers(device=device)) or "none"
        except alsaaudio.ALSAAudioError:
            there = "none (the device does not open)"
        raise MixerError(f"no {where} ({e}); controls there: {there}") from e


class SimulatedMixer:
    """An in-memory mixer: ``getvolume``/``setvolume`` like ``alsaaudio.Mixer``, every set recorded.

    Use :meth:`open` as the :data:`MixerFactory`. ``present=False`` makes every open fail like a
    missing control. Thread: any (plain attribute updates).
    """

    def __init__(self, volume: int = 50, *, channels: int = 2, present: bool = True) -> None:
        self.volumes = [volume] * channels
        self.present = present
        self.history: list[int] = []
        """Every volume set, in order."""
        self.opened: list[tuple[str, str]] = []
        """Every (control, device) opened, in order."""

    def open(self, control: str, device: str) -> Mixer:
        """The factory: this mixer, or MixerError when not ``present``."""
        self.opened.append((control, device))
        if not self.present:
            raise MixerError(f"no mixer control {control!r} on ALSA device {device!r} (simulated: none)")
        return self

    def getvolume(self) -> list[int]:
        """Each channel's volume in percent."""
        return list(self.volumes)

    def setvolume(self, volume: int) -> None:
        """Set every channel, as ``alsaaudio.Mixer.setvolume(volume)`` does."""
        if not 0 <= volume <= 100:
            raise MixerError(f"volume must be 0..100, not {volume}")
        self.volumes = [volume] * len(self.volumes)
        self.history.append(volume)

    def close(self) -> None:
        """Nothing to release."""
