"""The supervisor: wires the conversation core to the Live session, the audio thread and GPIO.

It owns every task and every device, routes events into
:class:`~edge_agent.conversation.Conversation` and runs the commands that come out.
On any exit (stop requested, error, cancellation) it stops the audio thread (which
closes the devices and finalises WAV files) and puts every output in its safe state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable

from edge_agent import events as ev
from edge_agent.audio_engine import AudioEngine
from edge_agent.conversation import Conversation
from edge_agent.errors import HardwareError
from edge_agent.events import Command, Event, Phase
from edge_agent.hardware.camera import Camera, open_camera
from edge_agent.hardware.factory import Hardware, open_hardware
from edge_agent.live.session import LinkClosed, LiveClient, LiveLink
from edge_agent.logging_setup import set_phase
from edge_agent.settings import ApiKey, Settings
from edge_agent.tools import ToolBox

_LOGGER = logging.getLogger(__name__)

UPLINK_QUEUE_CHUNKS = 50
"""Chunks of microphone audio held while the socket is slow (2 s at 40 ms); oldest dropped first."""
STABLE_CONNECTION_S = 30.0
"""A connection that lasted this long resets the reconnect backoff."""


def backoff_delays(first: float = 1.0, cap: float = 60.0) -> Callable[[], float]:
    """Return a function giving exponential delays with full jitter: ~1, 2, 4 … ``cap`` s."""
    attempt = 0

    def next_delay() -> float:
        nonlocal attempt
        base = min(cap, first * 2**attempt)
        attempt += 1
        delay: float = base / 2 + random.uniform(0, base / 2)
        return delay

    return next_delay


class Daemon:
    """One device's daemon. Create, then ``await run(stop)``; returns after ``stop`` is set.

    Thread: the event loop; hardware threads enter only through ``_post`` callbacks.
    """

    def __init__(self, settings: Settings, api_key: ApiKey, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.api_key = api_key
        self.ssl_context = ssl_context
        self.conversation = Conversation(mode=settings.listening.mode, idle_timeout_s=settings.listening.idle_timeout_s)
        self.turns_played = 0
        """Replies that finished playing (PlaybackDrained at the end of a turn)."""
        self.connections = 0
        self.hardware: Hardware | None = None
        self.engine: AudioEngine | None = None
        self.tools: ToolBox | None = None
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._uplink: asyncio.Queue[bytes] = asyncio.Queue(UPLINK_QUEUE_CHUNKS)
        self._link: LiveLink | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def phase(self) -> Phase:
        """The conversation's current phase."""
        return self.conversation.phase

    def post(self, event: Event) -> None:
        """Queue an event for the conversation. Thread: event loop."""
        self._inbox.put_nowait(event)

    def wake(self) -> None:
        """Ask the device to listen (like a button tap). Thread: event loop."""
        self.post(ev.WakeRequested("request"))

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises if a task fails unexpectedly (a bug)."""
        loop = self._loop = asyncio.get_running_loop()
        set_phase(self.phase.value)

        def on_button() -> None:  # a gpiozero thread: only bridge into the loop
            loop.call_soon_threadsafe(self.post, ev.WakeRequested("button"))

        hw = self.hardware = open_hardware(self.settings, on_button=on_button)
        try:
            self.tools = ToolBox(hw.outputs)
            audio = self.settings.audio
            self.engine = AudioEngine(
                hw.audio,
                loop=loop,
                period_ms=audio.period_ms,
                chunk_ms=audio.chunk_ms,
                prebuffer_ms=audio.prebuffer_ms,
                on_chunk=self._on_chunk,
                on_drained=lambda: self.post(ev.PlaybackDrained()),
            )
            self.engine.start()
            await self._supervise(stop, hw)
        finally:
            for handle in self._timers.values():
                handle.cancel()
            if self.engine is not None:
                await asyncio.to_thread(self.engine.stop)  # closes the devices, finalises WAVs
            hw.close()  # outputs to their safe state
            _LOGGER.info("stopped")

    async def _supervise(self, stop: asyncio.Event, hw: Hardware) -> None:
        tasks = [
            asyncio.create_task(self._session_loop(), name="live-session"),
            asyncio.create_task(self._conversation_loop(), name="conversation"),
            asyncio.create_task(self._uplink_loop(), name="uplink"),
        ]
        if self.settings.camera.backend != "off":
            tasks.append(asyncio.create_task(self._camera_loop(), name="camera"))
        if hw.button_presses_s:
            tasks.append(asyncio.create_task(self._simulated_presses(hw), name="simulated-button"))
        stopper = asyncio.create_task(stop.wait(), name="stop")
        pending = {stopper, *tasks}
        try:
            while stopper in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopper and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]  # a bug: end the daemon, systemd restarts it
            self._stopping = True
            if self._link is not None:  # say goodbye (1000) rather than vanish
                await asyncio.wait_for(self._link.close(), 2.0)
        finally:
            for task in [stopper, *tasks]:
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)

    # -------------------------------------------------------------- tasks

    async def _session_loop(self) -> None:
        """Connect, pump server events into the inbox, reconnect with backoff. Never returns."""
        client = LiveClient(
            self.settings.live, self.api_key, self.tools.specs if self.tools else [], ssl_context=self.ssl_context
        )
        next_delay = backoff_delays()
        while True:
            started = time.monotonic()
            reason = "closed"
            try:
                async with client.connect() as link:
                    self._link = link
                    self.connections += 1
                    _LOGGER.info("connected to the Live API (model %s)", self.settings.live.model)
                    self.post(ev.SessionConnected())
                    async for event in link.events():
                        self.post(event)
            except LinkClosed as e:
                reason = str(e)
            finally:
                if self._link is not None:
                    self._link = None
                    self.post(ev.SessionDisconnected(reason))
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_CONNECTION_S:
                next_delay = backoff_delays()
            delay = next_delay()
            _LOGGER.warning("Live connection ended (%s); reconnecting in %.1f s", reason, delay)
            await asyncio.sleep(delay)

    async def _conversation_loop(self) -> None:
        while True:
            event = await self._inbox.get()
            self.conversation.receive(event)
            if isinstance(event, ev.PlaybackDrained):
                self.turns_played += 1
            for command in self.conversation.commands_to_run():
                await self._run(command)

    async def _uplink_loop(self) -> None:
        while True:
            chunk = await self._uplink.get()
            link = self._link
            if link is None or self.engine is None or not self.engine.uplink_enabled:
                continue
            try:
                await link.send_audio(chunk)
            except LinkClosed:
                continue  # the session loop sees the close and reconnects

    async def _camera_loop(self) -> None:
        """Send at most ``max_fps`` stills while the microphone streams; a failing camera is retried."""
        settings = self.settings.camera
        interval = 1.0 / settings.max_fps
        camera: Camera | None = None
        next_delay = backoff_delays(first=5.0, cap=300.0)
        last_sent = -interval
        try:
            while True:
                link, engine = self._link, self.engine
                if link is None or engine is None or not engine.uplink_enabled:
                    await asyncio.sleep(0.05)
                    continue
                started = time.monotonic()
                if (wait := last_sent + interval - started) > 0:  # never faster than max_fps
                    await asyncio.sleep(min(wait, 0.05))
                    continue
                try:
                    if camera is None:
                        camera = await asyncio.to_thread(open_camera, settings.backend, settings.long_edge_px)
                    jpeg = await asyncio.to_thread(camera.capture_jpeg)
                except HardwareError as e:
                    delay = next_delay()
                    _LOGGER.warning("%s; retrying in %.0f s (the conversation goes on without it)", e, delay)
                    if camera is not None:
                        camera.close()
                        camera = None
                    await asyncio.sleep(delay)
                    continue
                # Re-check: the uplink may have closed while the frame was captured.
                if self._link is link and engine.uplink_enabled:
                    last_sent = started
                    with contextlib.suppress(LinkClosed):  # the session loop sees the close
                        await link.send_video(jpeg)
        finally:
            if camera is not None:
                camera.close()

    async def _simulated_presses(self, hw: Hardware) -> None:
        start = time.monotonic()
        for at in sorted(hw.button_presses_s):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            _LOGGER.info("simulated button tap")
            hw.tap_button()

    # -------------------------------------------------------- callbacks

    def _on_chunk(self, chunk: bytes) -> None:
        """A finished 16 kHz uplink chunk from the audio thread (runs on the loop)."""
        if self._uplink.full():
            self._uplink.get_nowait()  # never block capture: drop the oldest
        self._uplink.put_nowait(chunk)

    async def _run(self, command: Command) -> None:
        engine = self.engine
        assert engine is not None and self.tools is not None
        match command:
            case ev.PlayAudio(pcm=pcm):
                engine.play(pcm)
            case ev.StartUplink():
                engine.uplink_enabled = True
                _LOGGER.info("microphone streaming on")
            case ev.StopUplink():
                if engine.uplink_enabled:
                    _LOGGER.info("microphone streaming off")
                engine.uplink_enabled = False
                while not self._uplink.empty():
                    self._uplink.get_nowait()
            case ev.FlushPlayback(reason=reason):
                dropped = engine.flush()
                _LOGGER.info("playback stopped (%s): dropped %d ms of reply", reason, dropped * 1000 // 24000)
            case ev.FinishPlayback():
                engine.finish()
            case ev.RunTools(calls=calls):
                await self._run_tools(calls)
            case ev.LogTranscript(speaker=speaker, text=text):
                _LOGGER.info("%s: %s", speaker, text)
            case ev.StartTimer(name=name, seconds=seconds):
                self._cancel_timer(name)
                assert self._loop is not None
                self._timers[name] = self._loop.call_later(seconds, self.post, ev.TimerFired(name))
            case ev.CancelTimer(name=name):
                self._cancel_timer(name)
            case ev.PhaseEntered(phase=phase):
                set_phase(phase.value)
                _LOGGER.info("phase: %s", phase.value)

    async def _run_tools(self, calls: tuple[ev.ToolCall, ...]) -> None:
        assert self.tools is not None
        results = [self.tools.call(call) for call in calls]
        link = self._link
        if link is None:
            _LOGGER.warning("tool results for %s not sent: not connected", [c.id for c in calls])
            return
        try:
            await link.send_tool_results(results)
        except LinkClosed as e:
            _LOGGER.warning("tool results not sent: %s", e)
            return
        self.post(ev.ToolCallsAnswered(tuple(c.id for c in calls)))

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()
