"""What ALSA offers on this machine: sound cards, PCM names and what each PCM can do (``edge-agent devices``).

:func:`survey` lists the cards (``alsaaudio.card_indexes()`` / ``card_name()``) and, for capture and for
playback, the PCM names ALSA hints at (``alsaaudio.pcms()``; user-defined ``pcm.NAME`` entries are listed
unless their ``hint { show off }``) plus any extra names asked for (the configured devices). Each PCM is
probed by :func:`probe`: opened non-blocking (a busy device reports EBUSY instead of waiting), queried and
closed at once; nothing is read or written. A probe reports

* the rates (``getrates()``: a list of the standard rates, or a continuous ``(min, max)`` range),
* the channel range and, when the range is small, the channel counts (``getchannels()``),
* the sample formats (``getformats()``),
* for S16_LE mono at 16000 and 48000 Hz: what ``pcm.info()`` says ALSA granted and whether that is as asked,

or, when the device cannot be opened, its status (``busy``, ``not found``, ``timeout``, ``error``) and
ALSA's message. Probing never raises for a bad device.

Bounded time: pyalsaaudio 0.11 holds the GIL inside ``snd_pcm_open`` (a ``file`` PCM whose ``infile`` is a
FIFO blocks there forever; plugins may wait on servers), so a thread with a join timeout cannot bound it.
Each probe therefore runs in a forked child with its stderr on /dev/null (this also hides noise printed by
plugins themselves, e.g. JACK's) and is killed after ``timeout_s``. ``getchannels()`` counts from the
minimum to the maximum channel count holding the GIL; ``null``/``file`` PCMs report 4294967295 channels
(the loop never ends), so the range is first read through libasound with ctypes and ``getchannels()`` is
only called when it spans at most :data:`MAX_CHANNEL_LIST` counts.

Thread: call from the main thread of a process with no other thread using ALSA (the probes fork).
alsaaudio is imported lazily, so the data types are importable where libasound is missing.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["capture", "playback"]
Status = Literal["ok", "busy", "not found", "timeout", "error"]

PROBE_TIMEOUT_S = 2.0
"""Default time one PCM's probe may take before it is killed and reported as ``timeout``."""
PROBE_RATES = (16000, 48000)
"""The S16_LE mono rates every PCM is opened at (the microphone's and the speaker's usual rates)."""
MAX_CHANNEL_LIST = 64
"""List the channel counts one by one only when the range spans at most this many."""
_STREAM = {"playback": 0, "capture": 1}  # SND_PCM_STREAM_*, equal to alsaaudio.PCM_PLAYBACK / PCM_CAPTURE
_SND_PCM_NONBLOCK = 1
_GRANT_KEYS = ("rate", "granted_rate", "granted_channels", "granted_format", "as_is")


@dataclass(frozen=True)
class Card:
    """One sound card: ALSA's index, its short id (``CARD=`` in PCM names) and its long name."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class Grant:
    """What ALSA granted when asked for S16_LE, mono, ``rate`` Hz; ``as_is`` when all three match."""

    rate: int
    granted_rate: int
    granted_channels: int
    granted_format: str
    as_is: bool


@dataclass(frozen=True)
class PcmProbe:
    """One PCM name in one direction and what opening it showed. Capability fields are empty unless ok."""

    name: str
    direction: Direction
    status: Status
    error: str | None = None
    description: str | None = None
    listed: bool = True
    """False for a name that ``alsaaudio.pcms()`` does not list (probed because it was asked for)."""
    rates: tuple[int, ...] | None = None
    """The standard rates supported, or None when the rate is a continuous ``rate_range``."""
    rate_range: tuple[int, int] | None = None
    channels: tuple[int, ...] | None = None
    """Each channel count supported, or None when the ``channel_range`` is too wide to list."""
    channel_range: tuple[int, int] | None = None
    formats: tuple[str, ...] = ()
    s16le: tuple[Grant, ...] = field(default=())


@dataclass(frozen=True)
class Survey:
    """Everything :func:`survey` found: cards, then the capture and the playback PCMs in ALSA's order."""

    cards: tuple[Card, ...]
    capture: tuple[PcmProbe, ...]
    playback: tuple[PcmProbe, ...]


def survey(
    extra_capture: Sequence[str] = (), extra_playback: Sequence[str] = (), timeout_s: float = PROBE_TIMEOUT_S
) -> Survey:
    """List the cards and probe every listed PCM, plus the extra names, in both directions.

    Blocks for about 10 ms per PCM (up to ``timeout_s`` for one that hangs); forks once per probe.
    alsa-lib's own error messages go to the debug log from then on
    (:func:`~edge_agent.hardware.alsa_audio.quiet_alsa_lib`).
    """
    import alsaaudio

    from edge_agent.hardware.alsa_audio import quiet_alsa_lib

    quiet_alsa_lib()  # for the rest of this process: alsa-lib's messages go to the debug log
    cards = tuple(Card(i, *alsaaudio.card_name(i)) for i in alsaaudio.card_indexes())
    descriptions = pcm_descriptions()
    found: dict[Direction, tuple[PcmProbe, ...]] = {}
    wanted: tuple[tuple[Direction, Sequence[str]], ...] = (("capture", extra_capture), ("playback", extra_playback))
    for direction, extra in wanted:
        listed = list(alsaaudio.pcms(alsaaudio.PCM_CAPTURE if direction == "capture" else alsaaudio.PCM_PLAYBACK))
        names = list(dict.fromkeys([*listed, *extra]))
        found[direction] = tuple(
            dataclasses.replace(probe(n, direction, timeout_s), description=descriptions.get(n), listed=n in listed)
            for n in names
        )
    return Survey(cards, found["capture"], found["playback"])


def probe(name: str, direction: Direction, timeout_s: float = PROBE_TIMEOUT_S) -> PcmProbe:
    """Open ``name`` for ``direction`` in a forked child and report what it can do. Never raises for the device.

    Blocks for at most ``timeout_s`` (then the child is killed: status ``timeout``).
    """
    outcome = _in_child(lambda: _probe_here(name, direction), timeout_s)
    if outcome == "timeout":
        return PcmProbe(name, direction, "timeout", f"no answer within {timeout_s:g} s (probe killed)")
    if isinstance(outcome, str):
        return PcmProbe(name, direction, "error", outcome)
    grants = tuple(Grant(**g) for g in outcome.pop("s16le", []))
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in outcome.items()}
    return PcmProbe(name, direction, s16le=grants, **fields)


def _probe_here(name: str, direction: Direction) -> dict[str, Any]:
    """The child's half of :func:`probe`: a JSON-able dict of :class:`PcmProbe` fields."""
    import alsaaudio

    grants: list[dict[str, Any]] = []
    try:
        channel_range = _channel_range(name, direction)  # before PCM(): a hw device opens only once at a time
        for rate in PROBE_RATES:
            pcm = alsaaudio.PCM(
                _STREAM[direction], alsaaudio.PCM_NONBLOCK, device=name, rate=rate, channels=1,
                format=alsaaudio.PCM_FORMAT_S16_LE, periodsize=rate // 100, periods=4,
            )  # fmt: skip
            try:
                info = pcm.info()
                got = (int(info["rate"]), int(info["channels"]), str(info["format_name"]))
                grants.append(dict(zip(_GRANT_KEYS, (rate, *got, got == (rate, 1, "S16_LE")), strict=True)))
                if len(grants) == 1:  # the capabilities do not depend on the rate asked for
                    rates, formats = pcm.getrates(), sorted(pcm.getformats())
                    small = channel_range is not None and channel_range[1] - channel_range[0] < MAX_CHANNEL_LIST
                    channels = sorted(pcm.getchannels()) if small else None
            finally:
                pcm.close()
    except Exception as e:  # ALSAAudioError, or anything odd from a plugin: a row, never a crash
        return {"status": _status_of(str(e)), "error": str(e) or type(e).__name__}
    if isinstance(rates, int):
        rates = [rates]
    return {
        "status": "ok",
        "rates": sorted(rates) if isinstance(rates, list) else None,
        "rate_range": [min(rates), max(rates)] if rates else None,
        "channels": channels,
        "channel_range": channel_range,
        "formats": formats,
        "s16le": grants,
    }


def _status_of(message: str) -> Status:
    text = message.lower()
    if "busy" in text:
        return "busy"
    if "no such file or directory" in text or "no such device" in text:
        return "not found"
    return "error"


def _libasound() -> ctypes.CDLL:
    return ctypes.CDLL("libasound.so.2")  # the library alsaaudio links: dlopen returns the same instance


def _channel_range(name: str, direction: Direction) -> list[int] | None:
    """``snd_pcm_hw_params_get_channels_min/max`` of a fresh non-blocking open (ctypes; releases the GIL)."""
    lib = _libasound()
    handle, params = ctypes.c_void_p(), ctypes.c_void_p()
    low, high = ctypes.c_uint(), ctypes.c_uint()
    if lib.snd_pcm_open(ctypes.byref(handle), name.encode(), _STREAM[direction], _SND_PCM_NONBLOCK) < 0:
        return None  # PCM() reports why
    try:
        if lib.snd_pcm_hw_params_malloc(ctypes.byref(params)) < 0:
            return None
        try:
            lib.snd_pcm_hw_params_any(handle, params)
            lib.snd_pcm_hw_params_get_channels_min(params, ctypes.byref(low))
            lib.snd_pcm_hw_params_get_channels_max(params, ctypes.byref(high))
        finally:
            lib.snd_pcm_hw_params_free(params)
    finally:
        lib.snd_pcm_close(handle)
    return [low.value, high.value]


def pcm_descriptions() -> dict[str, str]:
    """PCM name → ALSA's description (``DESC`` hint, the text ``aplay -L`` prints; lines joined with ", ")."""
    lib = _libasound()
    lib.snd_device_name_get_hint.restype = ctypes.c_void_p
    libc = ctypes.CDLL(None)
    hints = ctypes.POINTER(ctypes.c_void_p)()
    if lib.snd_device_name_hint(-1, b"pcm", ctypes.byref(hints)) < 0:
        return {}

    def take(hint: int, key: bytes) -> str | None:
        ptr = lib.snd_device_name_get_hint(ctypes.c_void_p(hint), key)
        if not ptr:
            return None
        try:
            return ctypes.string_at(ptr).decode(errors="replace")
        finally:
            libc.free(ctypes.c_void_p(ptr))

    found: dict[str, str] = {}
    try:
        i = 0
        while hints[i]:
            name, desc = take(hints[i], b"NAME"), take(hints[i], b"DESC")
            if name and desc:
                found.setdefault(name, ", ".join(line.strip() for line in desc.splitlines() if line.strip()))
            i += 1
    finally:
        lib.snd_device_name_free_hint(hints)
    return found


def _in_child(work: Callable[[], dict[str, Any]], timeout_s: float) -> dict[str, Any] | str:
    """Run ``work`` in a forked child (stderr on /dev/null); its dict, or "timeout", or what went wrong."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 1
        try:
            os.close(read_fd)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            os.environ["JACK_NO_START_SERVER"] = "1"  # probing must not start a JACK server as a side effect
            payload = json.dumps(work()).encode()
            while payload:
                payload = payload[os.write(write_fd, payload) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            if select.select([read_fd], [], [], left)[0]:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
    finally:
        os.close(read_fd)
    _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        return f"probe crashed ({signal.Signals(os.WTERMSIG(wait_status)).name})"
    if not chunks or os.WEXITSTATUS(wait_status):
        return "probe failed"
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result
