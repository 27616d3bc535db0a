"""Deterministic virtual ALSA devices for tests, with no sound card: a tiny ioplug PCM built with gcc.

``vpcm`` is a userspace PCM plugin (``tests/hardware/alsa_fixtures.py`` compiles it once per session
against libasound2-dev). Per device it has a fixed rate and channel count (ALSA grants only those, like a
real codec), loops a raw S16_LE input file for capture, appends playback to an output file, and is paced in
real time by a timerfd (``paced false``: data moves at once, like the ``file`` plugin). While the ``gone``
flag file exists it behaves like an unplugged USB device: opening fails with -ENODEV, and a running stream
turns DISCONNECTED so read/write fail with -ENODEV (``No such device``). Xruns happen like on hardware:
capture when the ring buffer is full, playback when everything written has been played.

Tests get devices through the ``alsa`` fixture: every change writes a fresh config file and points
``ALSA_CONFIG_PATH`` at it (alsa-lib reloads when the variable changes; an edited file with the same
mtime second might not be reloaded).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from edge_agent.audio_device import AudioDevice
from edge_agent.audio_engine import AudioEngine
from edge_agent.settings import AudioSettings
from tests.conftest import build_alsa_plugin

ALSA_CONF = "/usr/share/alsa/alsa.conf"

VPCM_C = r"""
/* vpcm: a virtual ALSA PCM (ioplug) for tests: fixed rate/channels, looped input file, output file,
 * real-time pacing with a timerfd, and a "gone" flag file that makes it behave like an unplugged USB device
 * (open fails with -ENODEV; a running stream turns DISCONNECTED and read/write return -ENODEV). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>

typedef struct {
    snd_pcm_ioplug_t io;
    int paced;
    char *gone;
    int16_t *in;            /* whole input file (interleaved S16_LE), looped */
    size_t in_samples, in_pos;
    int out_fd;
    int fd;                 /* timerfd (paced) or an always-readable eventfd */
    struct timespec t0;
    int running;
} vpcm_t;

static int is_gone(vpcm_t *v) { return v->gone && access(v->gone, F_OK) == 0; }

static int disconnect(vpcm_t *v) {
    snd_pcm_ioplug_set_state(&v->io, SND_PCM_STATE_DISCONNECTED);
    return -ENODEV;
}

static snd_pcm_uframes_t elapsed_frames(vpcm_t *v) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = (int64_t)(now.tv_sec - v->t0.tv_sec) * 1000000000 + (now.tv_nsec - v->t0.tv_nsec);
    return (snd_pcm_uframes_t)(ns * (int64_t)v->io.rate / 1000000000);
}

static int vpcm_start(snd_pcm_ioplug_t *io) {
    vpcm_t *v = io->private_data;
    if (is_gone(v)) return disconnect(v);
    clock_gettime(CLOCK_MONOTONIC, &v->t0);
    v->running = 1;
    if (v->paced) {
        /* tick once per period, rounded up so data is always there when poll wakes */
        int64_t ns = ((int64_t)io->period_size * 1000000000 + io->rate - 1) / io->rate;
        struct itimerspec its = {{ns / 1000000000, ns % 1000000000}, {ns / 1000000000, ns % 1000000000}};
        timerfd_settime(v->fd, 0, &its, NULL);
    }
    return 0;
}

static int vpcm_stop(snd_pcm_ioplug_t *io) {
    vpcm_t *v = io->private_data;
    struct itimerspec off = {{0, 0}, {0, 0}};
    if (v->paced) timerfd_settime(v->fd, 0, &off, NULL);
    v->running = 0;
    return 0;
}

/* Position in frames since start (BOUNDARY_WA: no wrap at buffer_size). Xrun like real hardware:
 * capture when the buffer is full, playback when everything written has been played. */
static snd_pcm_sframes_t vpcm_pointer(snd_pcm_ioplug_t *io) {
    vpcm_t *v = io->private_data;
    snd_pcm_uframes_t appl = io->appl_ptr;
    if (is_gone(v)) {
        disconnect(v);
        return (snd_pcm_sframes_t)io->hw_ptr;
    }
    if (!v->running) return (snd_pcm_sframes_t)io->hw_ptr;
    if (io->stream == SND_PCM_STREAM_CAPTURE) {
        if (!v->paced) return (snd_pcm_sframes_t)(appl + io->buffer_size);
        snd_pcm_uframes_t pos = elapsed_frames(v);
        if (pos >= appl + io->buffer_size) return -EPIPE;
        return (snd_pcm_sframes_t)pos;
    }
    if (!v->paced) return (snd_pcm_sframes_t)appl;
    snd_pcm_uframes_t pos = elapsed_frames(v);
    if (pos >= appl && io->state != SND_PCM_STATE_DRAINING) return -EPIPE;
    return (snd_pcm_sframes_t)(pos < appl ? pos : appl);
}

static snd_pcm_sframes_t vpcm_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
                                       snd_pcm_uframes_t offset, snd_pcm_uframes_t size) {
    vpcm_t *v = io->private_data;
    if (is_gone(v)) return disconnect(v);
    size_t fbytes = io->channels * 2;
    char *buf = (char *)areas[0].addr + areas[0].first / 8 + offset * areas[0].step / 8;
    if (io->stream == SND_PCM_STREAM_CAPTURE) {
        size_t in_frames = v->in_samples / io->channels;
        for (snd_pcm_uframes_t done = 0; done < size;) {
            if (!in_frames) { memset(buf, 0, (size - done) * fbytes); break; }
            if (v->in_pos >= in_frames) v->in_pos = 0;
            size_t n = in_frames - v->in_pos;
            if (n > size - done) n = size - done;
            memcpy(buf + done * fbytes, v->in + v->in_pos * io->channels, n * fbytes);
            done += n;
            v->in_pos += n;
        }
    } else if (v->out_fd >= 0) {
        size_t left = size * fbytes;
        while (left) {
            ssize_t w = write(v->out_fd, buf, left);
            if (w < 0) return -errno;
            buf += w;
            left -= (size_t)w;
        }
    }
    return (snd_pcm_sframes_t)size;
}

static int vpcm_prepare(snd_pcm_ioplug_t *io) {
    vpcm_t *v = io->private_data;
    if (is_gone(v)) return disconnect(v);
    v->running = 0;
    return 0;
}

static int vpcm_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
                             unsigned short *revents) {
    vpcm_t *v = io->private_data;
    (void)nfds;
    *revents = 0;
    if (is_gone(v)) {
        disconnect(v);
        *revents = POLLERR;
        return 0;
    }
    if (pfd[0].revents & POLLIN) {
        uint64_t ticks;
        if (v->paced && read(v->fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) return -errno;
        *revents = io->stream == SND_PCM_STREAM_CAPTURE ? POLLIN : POLLOUT;
    }
    return 0;
}

static int vpcm_close(snd_pcm_ioplug_t *io) {
    vpcm_t *v = io->private_data;
    if (v->fd >= 0) close(v->fd);
    if (v->out_fd >= 0) close(v->out_fd);
    free(v->in);
    free(v->gone);
    free(v);
    return 0;
}

static const snd_pcm_ioplug_callback_t callbacks = {
    .start = vpcm_start, .stop = vpcm_stop, .pointer = vpcm_pointer, .transfer = vpcm_transfer,
    .prepare = vpcm_prepare, .poll_revents = vpcm_poll_revents, .close = vpcm_close,
};

static int load(const char *path, int16_t **data, size_t *bytes) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0) return -errno;
    if (fstat(fd, &st) < 0 || !(*data = malloc(st.st_size + 2))) { close(fd); return -EIO; }
    ssize_t n = read(fd, *data, st.st_size);
    close(fd);
    if (n != st.st_size) return -EIO;
    *bytes = (size_t)n;
    return 0;
}

SND_PCM_PLUGIN_DEFINE_FUNC(vpcm) {
    snd_config_iterator_t i, next;
    long rate = 0, channels = 0;
    const char *infile = NULL, *outfile = NULL, *gone = NULL, *format = "S16_LE";
    int paced = 1, err;
    (void)root;
    snd_config_for_each(i, next, conf) {
        snd_config_t *n = snd_config_iterator_entry(i);
        const char *id;
        if (snd_config_get_id(n, &id) < 0) continue;
        if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint")) continue;
        if (!strcmp(id, "rate")) err = snd_config_get_integer(n, &rate);
        else if (!strcmp(id, "channels")) err = snd_config_get_integer(n, &channels);
        else if (!strcmp(id, "infile")) err = snd_config_get_string(n, &infile);
        else if (!strcmp(id, "outfile")) err = snd_config_get_string(n, &outfile);
        else if (!strcmp(id, "gone")) err = snd_config_get_string(n, &gone);
        else if (!strcmp(id, "format")) err = snd_config_get_string(n, &format);
        else if (!strcmp(id, "paced")) err = paced = snd_config_get_bool(n);
        else { SNDERR("vpcm: unknown field %s", id); return -EINVAL; }
        if (err < 0) { SNDERR("vpcm: invalid %s", id); return -EINVAL; }
    }
    if (gone && access(gone, F_OK) == 0) return -ENODEV;  /* unplugged: like a missing hw device */
    vpcm_t *v = calloc(1, sizeof *v);
    if (!v) return -ENOMEM;
    v->paced = paced;
    v->out_fd = -1;
    v->gone = gone ? strdup(gone) : NULL;
    v->fd = paced ? timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC) : eventfd(1, EFD_CLOEXEC);
    if (v->fd < 0) { err = -errno; goto fail; }
    if (stream == SND_PCM_STREAM_CAPTURE && infile) {
        size_t bytes = 0;
        if ((err = load(infile, &v->in, &bytes)) < 0) goto fail;
        v->in_samples = bytes / 2;
    }
    if (stream == SND_PCM_STREAM_PLAYBACK && outfile) {
        v->out_fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (v->out_fd < 0) { err = -errno; goto fail; }
    }
    v->io.version = SND_PCM_IOPLUG_VERSION;
    v->io.name = "edge-agent test PCM";
    v->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA | SND_PCM_IOPLUG_FLAG_MONOTONIC;
    v->io.poll_fd = v->fd;
    v->io.poll_events = POLLIN;
    v->io.callback = &callbacks;
    v->io.private_data = v;
    if ((err = snd_pcm_ioplug_create(&v->io, name, stream, mode)) < 0) goto fail;
    unsigned int access_list[] = {SND_PCM_ACCESS_RW_INTERLEAVED};
    unsigned int format_list[] = {(unsigned int)snd_pcm_format_value(format)};
    unsigned int rate_list[] = {(unsigned int)rate}, channel_list[] = {(unsigned int)channels};
    snd_pcm_ioplug_set_param_list(&v->io, SND_PCM_IOPLUG_HW_ACCESS, 1, access_list);
    snd_pcm_ioplug_set_param_list(&v->io, SND_PCM_IOPLUG_HW_FORMAT, 1, format_list);
    if (rate) snd_pcm_ioplug_set_param_list(&v->io, SND_PCM_IOPLUG_HW_RATE, 1, rate_list);
    else snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_RATE, 8000, 192000);
    if (channels) snd_pcm_ioplug_set_param_list(&v->io, SND_PCM_IOPLUG_HW_CHANNELS, 1, channel_list);
    else snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_CHANNELS, 1, 8);
    snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 20);
    snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64);
    snd_pcm_ioplug_set_param_minmax(&v->io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, 128, 1 << 22);
    *pcmp = v->io.pcm;
    return 0;
fail:
    vpcm_close(&v->io);
    return err;
}
SND_PCM_PLUGIN_SYMBOL(vpcm);
"""


@pytest.fixture(scope="session")
def vpcm_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled ``vpcm`` plugin (skipped without gcc/libasound2-dev, except on CI where it must build)."""
    return build_alsa_plugin(tmp_path_factory.mktemp("vpcm"), "pcm", "vpcm", VPCM_C)


class Devices:
    """Virtual ALSA devices for one test, in ``tmp``; see the module docstring."""

    def __init__(self, tmp: Path, plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dir = tmp
        self.gone_flag = tmp / "gone"
        """One flag for every device made with ``unpluggable=True`` (a USB speakerphone: mic and speaker)."""
        self._plugin = plugin
        self._monkeypatch = monkeypatch
        self._pcms: dict[str, str] = {}

    def mic(self, name: str, signal: np.ndarray, rate: int, *, paced: bool = True, unpluggable: bool = False) -> None:
        """A capture device granting only ``rate`` that loops ``signal`` (frames × channels, or mono) forever."""
        frames = signal.reshape(signal.shape[0], -1)
        (self.dir / f"{name}.raw").write_bytes(frames.astype("<i2").tobytes())
        fields = {"rate": rate, "channels": frames.shape[1], "infile": f'"{self.dir / name}.raw"'}
        self._vpcm(name, fields, paced, unpluggable)

    def speaker(
        self, name: str, rate: int, *, channels: int = 1, paced: bool = False, unpluggable: bool = False
    ) -> Path:
        """A playback device granting only ``rate``/``channels``; returns the raw file it appends to."""
        out = self.dir / f"{name}.out.raw"
        self._vpcm(name, {"rate": rate, "channels": channels, "outfile": f'"{out}"'}, paced, unpluggable)
        return out

    def raw(self, name: str, body: str) -> None:
        """Any other PCM definition, e.g. ``type file; ...`` or ``type vpcm; format "U8"``."""
        self._pcms[name] = body
        self._apply()

    def unplug(self) -> None:
        self.gone_flag.touch()

    def replug(self) -> None:
        self.gone_flag.unlink()

    def _vpcm(self, name: str, fields: dict[str, object], paced: bool, unpluggable: bool) -> None:
        fields = {**fields, "paced": "true" if paced else "false"}
        if unpluggable:
            fields["gone"] = f'"{self.gone_flag}"'
        self.raw(name, "type vpcm; " + "; ".join(f"{k} {v}" for k, v in fields.items()))

    def _apply(self) -> None:
        lines = [f'pcm_type.vpcm {{ lib "{self._plugin}" }}']
        lines += [f"pcm.{name} {{ {body} }}" for name, body in self._pcms.items()]
        config = self.dir / f"asound-{len(list(self.dir.glob('asound-*.conf')))}.conf"
        config.write_text("\n".join(lines) + "\n")
        self._monkeypatch.setenv("ALSA_CONFIG_PATH", f"{ALSA_CONF}:{config}")


@pytest.fixture
def alsa(vpcm_plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Devices]:
    """Per-test virtual ALSA devices (``ALSA_CONFIG_PATH`` is restored afterwards)."""
    yield Devices(tmp_path, vpcm_plugin, monkeypatch)


# --- signals and how to compare them ----------------------------------------------------------------------


def band_noise(rate: int, seconds: float, *, top_hz: float, seed: int, level: float = 8000) -> np.ndarray:
    """Deterministic noise below ``top_hz``, periodic (looping it has no seam), as int16."""
    n = int(rate * seconds)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / rate) > top_hz] = 0
    x = np.fft.irfft(spectrum, n)
    return np.round(x / np.abs(x).max() * level).astype(np.int16)


def tone(rate: int, frames: int, hz: float, level: float = 10000) -> np.ndarray:
    return np.round(level * np.sin(2 * np.pi * hz * np.arange(frames) / rate)).astype(np.int16)


def resample(x: np.ndarray, rate: int, to: int) -> np.ndarray:
    """The reference conversion, in one batch (the engine streams)."""
    return np.asarray(soxr.resample(x.astype(np.float64), rate, to, quality="HQ"))


def peak_correlation(segment: np.ndarray, reference: np.ndarray) -> float:
    """Highest normalized cross-correlation of ``segment`` against every stretch of ``reference``."""
    seg, ref = segment.astype(np.float64), reference.astype(np.float64)
    n = seg.size
    assert 0 < n <= ref.size, (n, ref.size)
    size = 1 << int(np.ceil(np.log2(ref.size + n)))
    dots = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(seg, size)), size)[: ref.size - n + 1]
    energy = np.concatenate([[0.0], np.cumsum(ref**2)])
    window = np.sqrt(np.maximum(energy[n:] - energy[:-n], 1e-9))
    return float(np.max(dots / (np.linalg.norm(seg) * window + 1e-9)))


def best_window(captured: np.ndarray, reference: np.ndarray, *, window: int, skip: int = 0) -> float:
    """Best :func:`peak_correlation` over consecutive windows of ``captured`` after ``skip`` samples.

    Several windows, so a capture overrun on a loaded machine (a gap) cannot fail the check by bad luck.
    """
    starts = range(skip, captured.size - window + 1, window)
    assert starts, f"only {captured.size} samples captured"
    return max(peak_correlation(captured[s : s + window], reference) for s in starts)


# --- settings and a running engine ------------------------------------------------------------------------


def audio_settings(**overrides: Any) -> AudioSettings:
    """Audio settings for the virtual devices ``vmic``/``vspk`` at 48 kHz, 10 ms periods."""
    base: dict[str, Any] = {
        "capture_device": "vmic",
        "capture_rate": 48000,
        "playback_device": "vspk",
        "playback_rate": 48000,
        "period_ms": 10,
    }
    return AudioSettings(**{**base, **overrides})


class Uplink:
    """What the engine hands to the event loop: uplink chunks and drained notices."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.drained = 0

    def on_chunk(self, chunk: bytes, *_: object) -> None:  # the engine may add e.g. a timestamp
        self.chunks.append(chunk)

    def on_drained(self) -> None:
        self.drained += 1

    def audio(self, first_chunk: int = 0) -> np.ndarray:
        return np.frombuffer(b"".join(self.chunks[first_chunk:]), dtype="<i2")


@asynccontextmanager
async def running_engine(device: AudioDevice) -> AsyncIterator[tuple[AudioEngine, Uplink]]:
    """A real AudioEngine (10 ms periods, 40 ms chunks, 100 ms prebuffer) with the uplink open."""
    uplink = Uplink()
    engine = AudioEngine(
        device,
        loop=asyncio.get_running_loop(),
        period_ms=10,
        chunk_ms=40,
        prebuffer_ms=100,
        on_chunk=uplink.on_chunk,
        on_drained=uplink.on_drained,
    )
    engine.uplink_enabled = True
    engine.start()
    try:
        yield engine, uplink
    finally:
        await asyncio.to_thread(engine.stop)
    assert not engine.alive
