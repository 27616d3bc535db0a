"""The supervisor: wires the conversation core to the Live connection, the audio thread and GPIO.

It owns every task and every device, routes events into
:class:`~edge_agent.conversation.Conversation` and runs the commands that come out.
On any exit (stop requested, error, cancellation) it closes the connection (1000),
stops the audio thread (which closes the devices and finalises WAV files) and puts
every output in its safe state.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import os
import ssl
import time
from collections.abc import Mapping
from pathlib import Path

from edge_agent import commands as cmd
from edge_agent import events as ev
from edge_agent.accounting import Accounting
from edge_agent.audio_engine import AudioEngine
from edge_agent.camera_feed import CameraFeed
from edge_agent.commands import Command
from edge_agent.conversation import Conversation
from edge_agent.credentials import Credential
from edge_agent.echo import open_echo
from edge_agent.events import Event, Phase
from edge_agent.hardware.factory import Hardware, open_hardware
from edge_agent.hardware.mixer import SimulatedMixer
from edge_agent.latency import Latency
from edge_agent.lights import LightsTracker
from edge_agent.live.connection import ConnectionManager
from edge_agent.live.resumption import Handle, Resumption
from edge_agent.live.session import LiveClient
from edge_agent.logging_setup import set_phase
from edge_agent.notices import notice
from edge_agent.sd_notify import Notifier
from edge_agent.service import ServiceInterface
from edge_agent.settings import Settings
from edge_agent.state import StateStore, state_dir
from edge_agent.tools import ToolBox
from edge_agent.tools_builtin import register_builtins

_LOGGER = logging.getLogger(__name__)


class Daemon:
    """One device's daemon. Create, then ``await run(stop)``; returns after ``stop`` is set.

    Thread: the event loop; hardware threads enter only through ``loop.call_soon_threadsafe``.
    """

    def __init__(
        self,
        settings: Settings,
        credential: Credential,
        *,
        ssl_context: ssl.SSLContext | None = None,
        environ: Mapping[str, str] | None = None,
        notifier: Notifier | None = None,
        control_socket: Path | None = None,
    ) -> None:
        self.settings = settings
        self.credential = credential
        self.ssl_context = ssl_context
        listening = settings.listening
        self.conversation = Conversation(
            mode=listening.mode,
            turn_detection=listening.turn_detection,
            idle_timeout_s=listening.idle_timeout_s,
            disconnect_after_s=listening.disconnect_after_s,
            reply_timeout_s=settings.live.reply_timeout_s,
            camera_policy=settings.camera.policy,
        )
        self.store = StateStore(state_dir(settings.daemon.state_dir, os.environ if environ is None else environ))
        self.lights = LightsTracker(camera_enabled=settings.camera.backend != "off")
        self.accounting = Accounting(settings.live.daily_token_budget, self.store, self.post)
        self.latency = Latency()
        self._frozen_after_connect = False
        self.meter = self.accounting.meter
        self.turns_played = 0
        """Replies that finished playing (PlaybackDrained at the end of a turn)."""
        self.status = "starting"
        self.hardware: Hardware | None = None
        self.engine: AudioEngine | None = None
        self.tools: ToolBox | None = None
        self.connection: ConnectionManager | None = None
        self.camera_allowed = False
        self.camera: CameraFeed | None = None
        self.connection_task: asyncio.Task[None] | None = None
        self.service = ServiceInterface(self, notifier=notifier, control_socket=control_socket)
        self._saved_muted = False
        self._saved_handle: Handle | None = None
        self._button_held = False
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._timer_gen: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def frames_sent(self) -> int:
        """Camera frames that went out."""
        return self.camera.frames_sent if self.camera is not None else 0

    @property
    def phase(self) -> Phase:
        """The conversation's current phase."""
        return self.conversation.phase

    def post(self, event: Event) -> None:
        """Queue an event for the conversation. Thread: event loop."""
        if isinstance(event, ev.SessionConnected) and not self._frozen_after_connect:
            gc.freeze()  # the SDK's lazily built clients and models, as at start-up: O(1), no collection
            self._frozen_after_connect = True
        self._inbox.put_nowait(event)

    def wake(self) -> None:
        """Ask the device to listen (like a button tap). Thread: event loop."""
        self.post(ev.WakeRequested("request"))

    # ------------------------------------------------------------------ run

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises if a task fails unexpectedly (a bug)."""
        loop = self._loop = asyncio.get_running_loop()
        set_phase(self.phase.value)

        def on_button(what: str) -> None:  # a gpiozero thread: only bridge into the loop
            loop.call_soon_threadsafe(self._on_button, what)

        def on_switch(closed: bool) -> None:  # a gpiozero thread: only bridge into the loop
            loop.call_soon_threadsafe(self.post, ev.HardMuteChanged(closed))

        hw = self.hardware = open_hardware(
            self.settings, on_button=on_button, on_mute_switch=on_switch, schedule=loop.call_later
        )
        hw.lights.show(self.lights.lights)  # the "connecting" pattern from the start
        # Even if the event loop itself dies, the interpreter's exit puts every output in its safe state.
        atexit.register(hw.outputs.to_safe_state)
        try:
            self._restore()
            self.tools = ToolBox(hw.outputs)
            simulated = self.settings.hardware.backend == "simulated"
            register_builtins(
                self.tools,
                self.settings,
                status=self._device_status,
                request_frame=lambda: self.camera is not None and self.camera.request_frame(),
                mixer_factory=SimulatedMixer().open if simulated else None,
            )
            audio = self.settings.audio
            echo = await asyncio.to_thread(open_echo, audio)  # loads livekit's library: not on the loop
            self.engine = AudioEngine(
                hw.audio,
                loop=loop,
                period_ms=audio.period_ms,
                chunk_ms=audio.chunk_ms,
                prebuffer_ms=audio.prebuffer_ms,
                on_chunk=self._on_chunk,
                on_drained=lambda: self.post(ev.PlaybackDrained()),
                echo=echo,
                input_gain_db=audio.input_gain_db,
                latency=self.latency,
            )
            # Everything imported and built so far lives as long as the process: out of the collector's
            # sight, a full collection takes ~1 ms instead of ~80 ms that would stall the audio thread.
            gc.collect()
            gc.freeze()
            self.engine.start()
            self.connection = self._connection_manager()
            if hw.mute_switch is not None and hw.mute_switch.closed:
                self.conversation.receive(ev.HardMuteChanged(True))  # muted by the switch from the start
            elif self._saved_muted:  # before anything starts: not one chunk goes out first
                self.conversation.receive(ev.MuteRequested(True, "restored"))
            self.conversation.start()
            await self._run_commands()
            await self._supervise(stop, hw, self.connection)
        finally:
            try:
                for handle in self._timers.values():
                    handle.cancel()
                if self.engine is not None:
                    await asyncio.to_thread(self.engine.stop)  # closes the devices, finalises WAVs
                else:
                    hw.audio.close()
            finally:
                hw.close()  # outputs to their safe state, whatever happened above
                atexit.unregister(hw.outputs.to_safe_state)
                _LOGGER.info("stopped")

    def _restore(self) -> None:
        saved = self.store.load("muted") or {}
        self._saved_muted = bool(saved.get("muted", False))
        self.accounting.restore()
        handle = self.store.load("resumption") or {}
        if isinstance(handle.get("handle"), str) and isinstance(handle.get("seen_at"), (int, float)):
            self._saved_handle = Handle(handle["handle"], float(handle["seen_at"]))
            if self._saved_handle.usable(time.time()):
                _LOGGER.info("resuming the session saved at %s", time.ctime(self._saved_handle.seen_at))

    def _connection_manager(self) -> ConnectionManager:
        live = self.settings.live
        client = LiveClient(
            live, self.settings.listening, self.tools.specs if self.tools else [], ssl_context=self.ssl_context
        )
        chunk_s = self.settings.audio.chunk_ms / 1000
        return ConnectionManager(
            client,
            self.credential,
            Resumption(self._saved_handle),
            post=self.post,
            busy=lambda: self.conversation.busy,
            on_handle=self._save_handle,
            on_usage=self.meter.report,
            on_status=self._set_status,
            max_buffered_chunks=int(live.handover_buffer_s / chunk_s),
            on_audio_sent=self._on_audio_sent,
        )

    async def _supervise(self, stop: asyncio.Event, hw: Hardware, connection: ConnectionManager) -> None:
        tasks = [
            asyncio.create_task(connection.run(), name="live-connection"),
            asyncio.create_task(self._conversation_loop(), name="conversation"),
            asyncio.create_task(self.accounting.run_days(), name="budget-day"),
        ]
        if self.settings.camera.backend != "off":
            self.camera = CameraFeed(self.settings.camera, connection, lambda: self.camera_allowed)
            tasks.append(asyncio.create_task(self.camera.run(), name="camera"))
        tasks.append(asyncio.create_task(self.service.run(), name="service"))
        self.connection_task = tasks[0]
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
            await self.service.stop("shutdown requested")
            await connection.close()  # say goodbye (1000) rather than vanish
        finally:
            await self.service.stop("exiting")
            for task in [stopper, *tasks]:
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)

    # -------------------------------------------------------------- tasks

    async def _conversation_loop(self) -> None:
        while True:
            event = await self._inbox.get()
            if isinstance(event, ev.TimerFired) and event.generation != self._timer_gen.get(event.name):
                continue  # cancelled or restarted after it fired
            self.accounting.observe(event)
            self.conversation.receive(event)
            self.lights.observe(event)
            if isinstance(event, ev.PlaybackDrained):
                self.turns_played += 1
            await self._run_commands()

    async def _run_commands(self) -> None:
        for command in self.conversation.commands_to_run():
            self.lights.observe(command)
            await self._run(command)
        if self.hardware is not None:  # once per batch: no split-second flashes between commands
            self.hardware.lights.show(self.lights.lights)

    async def _simulated_presses(self, hw: Hardware) -> None:
        start = time.monotonic()
        for at in sorted(hw.button_presses_s):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            _LOGGER.info("simulated button tap")
            hw.tap_button()

    # -------------------------------------------------------- callbacks

    def _on_chunk(self, chunk: bytes, read_at: float) -> None:
        """A finished 16 kHz uplink chunk from the audio thread (runs on the loop)."""
        if self.connection is not None and self.engine is not None and self.engine.uplink_enabled:
            self.connection.push_audio(chunk, read_at)

    def _on_audio_sent(self, read_at: float) -> None:
        """A chunk went out on the WebSocket (runs on the loop)."""
        self.latency.mic_to_wire.add((time.monotonic() - read_at) * 1000.0)

    def _on_button(self, what: str) -> None:
        """Button edges (bridged from gpiozero's threads) → semantic events."""
        ptt = self.settings.listening.turn_detection == "push_to_talk"
        if what == "held" and ptt:
            return  # holding is talking in push-to-talk; mute there with `edge-agent ctl mute`
        if what == "held":
            self._button_held = True
            self.post(ev.MuteRequested(None, "button"))
        elif what == "pressed":
            self._button_held = False
            if ptt:
                self.post(ev.TalkPressed())
        elif ptt:
            self.post(ev.TalkReleased())
        elif not self._button_held:
            self.post(ev.WakeRequested("button"))  # a tap: acted on at release, so a hold can mean mute

    def _device_status(self) -> dict[str, object]:
        """What get_device_status tells the model (the outputs are added by the tool)."""
        connection = self.connection
        return {
            "phase": self.phase.value,
            "muted": self.conversation.muted,
            "connected": connection is not None and connection.link is not None,
            "network": "online" if connection is not None and connection.link is not None else "offline",
        }

    def _set_status(self, text: str) -> None:
        self.status = text

    def _save_handle(self, handle: Handle | None) -> None:
        if handle is None:
            self.store.delete("resumption")
        else:
            self.store.save("resumption", {"handle": handle.value, "seen_at": handle.seen_at})

    # ----------------------------------------------------------- commands

    async def _run(self, command: Command) -> None:  # noqa: C901 - one flat dispatch table reads best
        engine, connection = self.engine, self.connection
        assert engine is not None and connection is not None and self.tools is not None
        match command:
            case cmd.PlayAudio(pcm=pcm, received_at=received_at):
                engine.play(pcm, received_at)
            case cmd.StartUplink():
                engine.uplink_enabled = True
                _LOGGER.info("microphone streaming on")
            case cmd.StopUplink(discard=discard):
                if engine.uplink_enabled:
                    _LOGGER.info("microphone streaming off")
                engine.uplink_enabled = False
                if discard or connection.link is None:  # mute, or held offline: it would be stale
                    connection.clear_audio()
            case cmd.SendSignal(kind=kind):
                connection.push_signal(kind)
            case cmd.SendText(text=text):
                connection.push_text(text)
            case cmd.SetMuted(muted=muted):
                connection.muted = muted
                self.store.save("muted", {"muted": muted}, durable=True)
                if muted:
                    _LOGGER.warning("muted: no audio or video leaves the device")
                else:
                    _LOGGER.info("unmuted")
                engine.play(notice("muted" if muted else "unmuted"))
                engine.finish()
            case cmd.SetCamera(allowed=allowed):
                self.camera_allowed = allowed and not connection.muted
            case cmd.PlayNotice(name=name):
                engine.play(notice(name))
                engine.finish()
            case cmd.Connect():
                connection.want(True)
            case cmd.Disconnect(reason=reason):
                _LOGGER.info("closing the Live connection (%s)", reason)
                connection.want(False)
            case cmd.Reconnect(reason=reason):
                connection.request_reconnect(reason)
            case cmd.FlushPlayback(reason=reason, received_at=received_at):
                dropped = engine.flush(received_at)
                _LOGGER.info("playback stopped (%s): dropped %d ms of reply", reason, dropped * 1000 // 24000)
            case cmd.FinishPlayback():
                engine.finish()
            case cmd.UndoTools(ids=ids):
                for line in self.tools.cancel(ids):
                    _LOGGER.info("%s", line, extra={"TOOL": "cancel"})
            case cmd.RunTools(calls=calls):
                connection.push_tool_results([self.tools.call(call) for call in calls])
                self.post(ev.ToolCallsAnswered(tuple(c.id for c in calls)))
            case cmd.LogTranscript(speaker=speaker, text=text):
                _LOGGER.info("%s: %s", speaker, text)
            case cmd.StartTimer(name=name, seconds=seconds):
                self._cancel_timer(name)
                assert self._loop is not None
                self._timer_gen[name] = gen = self._timer_gen.get(name, 0) + 1
                self._timers[name] = self._loop.call_later(seconds, self.post, ev.TimerFired(name, gen))
            case cmd.CancelTimer(name=name):
                self._cancel_timer(name)
            case cmd.PhaseEntered(phase=phase):
                set_phase(phase.value)
                _LOGGER.info("phase: %s", phase.value)

    def _cancel_timer(self, name: str) -> None:
        self._timer_gen[name] = self._timer_gen.get(name, 0) + 1  # a firing already queued is now stale
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()
