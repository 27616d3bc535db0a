"""Built-in tools beside the outputs: device status, the speaker volume, a fresh camera frame.

:func:`register_builtins` adds them to the daemon's :class:`~edge_agent.tools.ToolBox`, after
the output tools, so the model sees one list:

* ``get_device_status()``: what ``status()`` reports (phase, mute, connection) plus the outputs.
* ``get_volume()`` / ``set_volume(percent)``: the ALSA mixer control of ``[volume]``, opened per
  call through ``mixer_factory`` (default :func:`~edge_agent.hardware.mixer.open_alsa_mixer`).
  A missing control is an ``error`` response naming it and the controls there are, never a crash.
  A ``set_volume`` is journalled, so a cancelled call puts the volume back.
* ``look()``: ask for one fresh camera frame now through ``request_frame()``; declared only when
  a camera is configured (``camera.backend != "off"``).

Every handler answers at once: a mixer read or write is one ALSA control call, ``request_frame``
must only schedule the capture (it runs on the event loop and must not wait for the camera).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ConfigDict, Field, create_model

from edge_agent.hardware.mixer import MixerFactory, open_alsa_mixer
from edge_agent.settings import Settings, VolumeSettings
from edge_agent.tools import Change, NoArgs, Reply, ToolBox, ToolRefused

StatusProvider = Callable[[], Mapping[str, Any]]
"""Returns the daemon's state for the model, e.g. ``{"phase": "responding", "muted": False, "connected": True}``."""
FrameRequest = Callable[[], bool]
"""Schedules one fresh camera frame for the model; False if none can go now (muted, camera failing)."""


class Volume:
    """The speaker volume in percent through one mixer control. Blocks briefly (ALSA control calls).

    The control is opened for each read or write and closed at once. Raises MixerError (a
    HardwareError) when the control is missing or refuses.
    """

    def __init__(self, settings: VolumeSettings, factory: MixerFactory = open_alsa_mixer) -> None:
        self.control = settings.mixer_control
        self.device = settings.mixer_device
        self._factory = factory

    def get(self) -> int:
        """The volume now: the mean of the channels, rounded."""
        mixer = self._factory(self.control, self.device)
        try:
            channels = mixer.getvolume()
        finally:
            mixer.close()
        return round(sum(channels) / len(channels)) if channels else 0

    def set(self, percent: int) -> int:
        """Set every channel to ``percent`` (0..100); returns the volume read back."""
        mixer = self._factory(self.control, self.device)
        try:
            mixer.setvolume(percent)
        finally:
            mixer.close()
        return self.get()


_SetVolumeArgs = create_model(
    "SetVolumeArgs",
    __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
    percent=(float, Field(strict=True, ge=0, le=100, description="Volume in percent: 0 = silent, 100 = loudest.")),
)


def register_builtins(
    toolbox: ToolBox,
    settings: Settings,
    *,
    status: StatusProvider | None = None,
    request_frame: FrameRequest | None = None,
    mixer_factory: MixerFactory | None = None,
) -> list[str]:
    """Declare the built-in tools this configuration supports in ``toolbox``; returns their names.

    ``get_device_status`` needs ``status``; ``get_volume``/``set_volume`` need ``volume.enabled``;
    ``look`` needs ``request_frame`` and a camera. Call before the specs go to the session setup.
    All callbacks run on the event loop, inside ``ToolBox.call``.
    """
    added: list[str] = []
    if status is not None:
        provider = status

        def device_status(_args: Any) -> Reply:
            return Reply({**provider(), "outputs": toolbox.outputs.snapshot()})

        toolbox.register(
            "get_device_status",
            "Report this device's state: conversation phase, privacy mute, connection, and its outputs.",
            NoArgs,
            device_status,
        )
        added.append("get_device_status")
    if settings.volume.enabled:
        volume = Volume(settings.volume, mixer_factory or open_alsa_mixer)
        toolbox.register("get_volume", "Report the speaker volume in percent.", NoArgs, lambda _: _get_volume(volume))
        toolbox.register(
            "set_volume",
            "Set the speaker volume in percent (0 = silent, 100 = loudest).",
            _SetVolumeArgs,
            lambda args: _set_volume(volume, round(args.percent)),
        )
        added += ["get_volume", "set_volume"]
    if request_frame is not None and settings.camera.backend != "off":
        frame = request_frame

        def look(_args: Any) -> Reply:
            if not frame():
                raise ToolRefused("no camera frame can be sent now (muted, or the camera is not working)")
            return Reply({"frame": "a fresh camera frame follows in the video input"})

        toolbox.register("look", "Take one fresh picture with the camera and see it now.", NoArgs, look)
        added.append("look")
    return added


def _get_volume(volume: Volume) -> Reply:
    return Reply({"volume": volume.get()})


def _set_volume(volume: Volume, percent: int) -> Reply:
    before = volume.get()
    after = volume.set(percent)
    if after == before:
        return Reply({"volume": after, "changed": False})
    change = Change(
        subject="the volume",
        before=f"{before} %",
        still_set=lambda: volume.get() == after,
        revert=lambda: volume.set(before),
    )
    return Reply({"volume": after, "changed": True}, (change,))
