"""ALSA microphone and speaker through pyalsaaudio (the ``pi`` backend's audio).

Devices are named by ALSA PCM name (``default``, ``plughw:CARD=seeed2micvoicec,DEV=0``).
ALSA may silently grant another rate, channel count or format than asked: after
opening, the granted values are read back with ``pcm.info()``; another rate or channel
count is used correctly (resampled / mixed), another sample format is refused with a
message naming the device and what it granted.

Every failure is an :class:`~edge_agent.errors.AudioDeviceError` naming the device, the
direction and what happened: a missing device, a busy one, one unplugged mid-stream
(``-ENODEV`` / state DISCONNECTED). The audio engine then closes the device and reopens
it with backoff. Overruns and underruns (``-EPIPE``) are counted and recovered, never raised,
unless they repeat without a single good period in between (a dead device).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
from typing import Any

import alsaaudio
import numpy as np

from edge_agent.errors import AudioDeviceError
from edge_agent.pcm import Frames, Samples
from edge_agent.settings import AudioSettings

_LOGGER = logging.getLogger(__name__)

RING_PERIODS = 8
"""Periods in each ALSA ring buffer: 8 × 10 ms rides out a busy moment; the engine keeps only ~3 queued."""
_XRUN_LIMIT = 50
"""Xruns in a row with no good period in between: the device is treated as failed."""

_ErrorHandler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
_error_handler: Any = None
"""The installed alsa-lib error callback; kept referenced for the life of the process."""


def _alsa_lib_message(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    # alsa-lib's printf-style arguments are not readable from here; the format string is enough for debugging.
    text = (fmt or b"").decode(errors="replace").strip()
    _LOGGER.debug("alsa-lib %s (%s:%d %s, err %d)", text, (file or b"").decode(), line, (function or b"").decode(), err)


def quiet_alsa_lib() -> None:
    """Stop alsa-lib printing ``ALSA lib pcm.c:…`` lines to stderr (they go to the debug log). Once per process.

    The text of a failure still reaches the caller in pyalsaaudio's exception. Thread: any; idempotent.
    """
    global _error_handler
    if _error_handler is not None:
        return
    handler = _ErrorHandler(_alsa_lib_message)
    try:
        libasound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
        libasound.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError) as e:  # no libasound to load by name: keep its default printing
        _LOGGER.debug("cannot quiet alsa-lib: %s", e)
        _error_handler = False
        return
    _error_handler = handler


def _reason(error: Exception, device: str) -> str:
    """The message of a pyalsaaudio error without its `` [device]`` suffix (e.g. ``No such file or directory``)."""
    text = str(error)
    suffix = f" [{device}]"
    return text[: -len(suffix)] if text.endswith(suffix) else text


def _close_quietly(pcm: Any) -> None:
    """Drop (never drain: a stuck device would block) and close; errors of a vanished device are ignored."""
    with contextlib.suppress(Exception):
        pcm.drop()
    with contextlib.suppress(Exception):
        pcm.close()


class AlsaAudio:
    """A capture PCM and a playback PCM driven in lockstep by the audio thread.

    Implements :class:`edge_agent.audio_device.AudioDevice`. Thread: every method runs on the
    audio thread (``close`` may also run after it has stopped). ``read`` blocks for one capture
    period (the thread's clock); ``write`` blocks only when the speaker's ring buffer is full.
    ``capture_rate`` / ``playback_rate`` are the rates ALSA granted, valid after :meth:`open`.
    """

    def __init__(self, settings: AudioSettings) -> None:
        self.settings = settings
        self.name = f"{settings.capture_device} / {settings.playback_device}"
        self.capture_rate = settings.capture_rate
        self.playback_rate = settings.playback_rate
        self.overruns = 0
        self.underruns = 0
        self._capture: Any = None
        self._playback: Any = None
        self._capture_channels = settings.capture_channels
        self._playback_channels = settings.playback_channels
        self._playback_buffer = 0
        self._clocked: bool | None = None
        """Whether the speaker plays in real time; known after the first write."""
        self._xruns = {"capture": 0, "playback": 0}

    def open(self) -> None:
        """Open both PCMs and check what ALSA granted; blocks briefly. Raises AudioDeviceError.

        Closes first, so calling it again reopens. On failure nothing stays open.
        """
        quiet_alsa_lib()
        s = self.settings
        self.close()
        try:
            self._capture, self.capture_rate, self._capture_channels = self._open(
                alsaaudio.PCM_CAPTURE, s.capture_device, s.capture_rate, s.capture_channels
            )
            if s.capture_channel is not None and s.capture_channel >= self._capture_channels:
                raise AudioDeviceError(
                    f"capture device {s.capture_device!r} granted {self._capture_channels} channel(s) of the "
                    f"{s.capture_channels} asked, so capture_channel {s.capture_channel} does not exist "
                    f"(counting from 0)"
                )
            self._playback, self.playback_rate, self._playback_channels = self._open(
                alsaaudio.PCM_PLAYBACK, s.playback_device, s.playback_rate, s.playback_channels
            )
            self._playback_buffer = int(self._playback.info()["buffer_size"])
        except BaseException:
            self.close()
            raise
        self._clocked = None
        self._xruns = {"capture": 0, "playback": 0}

    def _open(self, kind: int, device: str, rate: int, channels: int) -> tuple[Any, int, int]:
        what = "capture" if kind == alsaaudio.PCM_CAPTURE else "playback"
        pcm = self._pcm(kind, what, device, rate, channels)
        try:
            info = pcm.info()
            granted_rate = int(info["rate"])
            if granted_rate != rate:  # the period was sized for the asked rate: keep it period_ms long
                _close_quietly(pcm)
                pcm = self._pcm(kind, what, device, granted_rate, channels)
                info = pcm.info()
            granted_rate, granted_channels, fmt = int(info["rate"]), int(info["channels"]), info["format_name"]
        except alsaaudio.ALSAAudioError as e:
            _close_quietly(pcm)
            raise AudioDeviceError(f"{what} device {device!r} failed while opening: {_reason(e, device)}") from e
        if fmt != "S16_LE":
            _close_quietly(pcm)
            raise AudioDeviceError(
                f"{what} device {device!r} granted format {fmt} ({granted_rate} Hz, {granted_channels} ch); "
                "edge-agent needs S16_LE: use a plughw: or default device so ALSA converts"
            )
        if (granted_rate, granted_channels) != (rate, channels):
            _LOGGER.warning(
                "%s device %r granted %d Hz / %d ch instead of %d Hz / %d ch; converting",
                what,
                device,
                granted_rate,
                granted_channels,
                rate,
                channels,
            )
        return pcm, granted_rate, granted_channels

    def _pcm(self, kind: int, what: str, device: str, rate: int, channels: int) -> Any:
        try:
            return alsaaudio.PCM(
                kind,
                alsaaudio.PCM_NORMAL,
                device=device,
                rate=rate,
                channels=channels,
                format=alsaaudio.PCM_FORMAT_S16_LE,
                periodsize=max(1, rate * self.settings.period_ms // 1000),
                periods=RING_PERIODS,
            )
        except alsaaudio.ALSAAudioError as e:
            reason = _reason(e, device)
            if reason == "No such file or directory":
                msg = (
                    f"{what} device {device!r} not found: {reason}; `edge-agent devices` lists the devices "
                    "and what each can do"
                )
            elif reason == "No such device":
                msg = f"{what} device {device!r} is not connected: {reason}"
            elif "busy" in reason.lower():
                msg = f"{what} device {device!r} is busy (used by another program?): {reason}"
            else:
                msg = f"cannot open {what} device {device!r}: {reason}"
            raise AudioDeviceError(msg) from e

    def _failed(self, what: str, doing: str, error: Exception) -> AudioDeviceError:
        device = self.settings.capture_device if what == "capture" else self.settings.playback_device
        reason = _reason(error, device)
        gone = " (unplugged?)" if reason == "No such device" else ""
        return AudioDeviceError(f"{what} device {device!r} failed while {doing}: {reason}{gone}")

    def _xrun(self, what: str, pcm: Any) -> None:
        """After an overrun/underrun: raise if the device is in fact gone or never recovers."""
        device = self.settings.capture_device if what == "capture" else self.settings.playback_device
        self._xruns[what] += 1
        try:
            state = pcm.state()
        except alsaaudio.ALSAAudioError as e:
            raise self._failed(what, "recovering from an xrun", e) from e
        if state == alsaaudio.PCM_STATE_DISCONNECTED:
            raise AudioDeviceError(f"{what} device {device!r} is disconnected (unplugged?)")
        if self._xruns[what] >= _XRUN_LIMIT:
            raise AudioDeviceError(f"{what} device {device!r} failed: {self._xruns[what]} xruns in a row")

    def read(self) -> bytes:
        """Block for one capture period; return its raw frames (every granted channel).

        After an overrun the result is empty (the stream is already restarted). Raises AudioDeviceError.
        Per period this is only the device call: conversion waits for :meth:`to_samples`.
        """
        pcm = self._capture
        if pcm is None:
            raise AudioDeviceError(f"capture device {self.settings.capture_device!r} is not open")
        try:
            n, data = pcm.read()
        except alsaaudio.ALSAAudioError as e:
            raise self._failed("capture", "reading", e) from e
        if n < 0:  # -EPIPE: overrun, pyalsaaudio has re-prepared the stream
            self.overruns += 1
            self._xrun("capture", pcm)
            _LOGGER.warning("microphone overrun on %r (%d so far)", self.settings.capture_device, self.overruns)
            return b""
        self._xruns["capture"] = 0
        raw: bytes = data
        size = 2 * n * self._capture_channels
        return raw if len(raw) == size else raw[:size]

    def to_samples(self, raw: bytes) -> Samples:
        """Mono int16 at ``capture_rate`` from raw capture frames: channels mixed, or ``capture_channel`` kept."""
        channels = self._capture_channels
        samples: Samples = np.frombuffer(raw, dtype="<i2", count=len(raw) // (2 * channels) * channels)
        if channels > 1:
            frames = samples.reshape(-1, channels)
            if self.settings.capture_channel is not None:
                return np.ascontiguousarray(frames[:, self.settings.capture_channel])
            mixed: Samples = (frames.sum(axis=1, dtype=np.int32) // channels).astype(np.int16)
            return mixed
        return samples

    def to_frames(self, samples: Samples) -> Samples:
        """Raw playback frames for mono int16: each sample copied to every granted channel."""
        if self._playback_channels > 1:
            samples = np.repeat(samples, self._playback_channels)
        return np.ascontiguousarray(samples, dtype="<i2")

    def write(self, frames: Frames) -> None:
        """Queue raw frames (from :meth:`to_frames`, or a slice of their bytes).

        Blocks only while the ring buffer is full. After an underrun the frames are sent again
        (pyalsaaudio did not write them). Raises AudioDeviceError.
        """
        pcm = self._playback
        if pcm is None:
            raise AudioDeviceError(f"playback device {self.settings.playback_device!r} is not open")
        if len(frames) == 0:
            return
        try:
            for _ in range(2):  # a second try after an underrun; then the frames are dropped
                if pcm.write(frames) >= 0:
                    self._xruns["playback"] = 0
                    if self._clocked is None:
                        self._check_clock()
                    return
                self.underruns += 1  # -EPIPE: the stream is re-prepared, the frames were not written
                self._xrun("playback", pcm)
        except alsaaudio.ALSAAudioError as e:
            raise self._failed("playback", "writing", e) from e

    def _check_clock(self) -> None:
        """After the first write: a device that already shows an empty queue has no clock (file/null plugin)."""
        self._clocked = self.playback_queued() != 0
        if not self._clocked:
            _LOGGER.info(
                "playback device %r takes audio at once (no clock, e.g. a file or null plugin): no fill level",
                self.settings.playback_device,
            )

    def playback_queued(self) -> int | None:
        """Frames queued in the playback ring buffer now, at ``playback_rate``; None if unknown.

        Buffer size minus ``snd_pcm_avail`` while the stream runs. None when not open, not running (before
        the start threshold is reached, e.g. refilling after an underrun, when writing must go on so it
        starts again), disconnected, or when the device turned out to have no clock: one that shows an empty
        queue right after the first write (ALSA ``file``/``null`` plugins), whose fill level means nothing.
        Thread: the audio thread. Never blocks, never raises.
        """
        pcm = self._playback
        if pcm is None or self._playback_buffer <= 0 or self._clocked is False:
            return None
        try:
            if pcm.state() != alsaaudio.PCM_STATE_RUNNING:
                return None  # not started yet (or refilling after an underrun): nothing to keep in a band
            avail = int(pcm.avail())
        except alsaaudio.ALSAAudioError:
            return None
        if avail == -errno.EPIPE:  # underrun: nothing left queued
            return 0
        if avail < 0:
            return None
        return max(0, self._playback_buffer - avail)

    def close(self) -> None:
        """Drop what is queued and close both PCMs. Idempotent; never raises, even when the device is gone."""
        capture, playback = self._capture, self._playback
        self._capture = self._playback = None
        for pcm in (capture, playback):
            if pcm is not None:
                _close_quietly(pcm)
