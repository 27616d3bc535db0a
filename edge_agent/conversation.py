"""The conversation core: a sans-I/O state machine (events in, commands out).

No asyncio, no google.genai, no hardware: the supervisor feeds it events with
:meth:`Conversation.receive` and runs what :meth:`Conversation.commands_to_run`
returns, in order. Barge-in, wake, push-to-talk, mute, idle close, the reply watchdog
and the token budget are rules here, tested as tables (``tests/test_conversation*.py``).

The microphone streams (uplink on) exactly when the user is to be heard — mode
``always``, a wake window (``on_wake``) or the talk button held (``push_to_talk``) — and
the device is not muted and the budget allows turns. The phase is derived from the
state after every event (see :class:`~edge_agent.events.Phase` for the precedence).
"""

from __future__ import annotations

from typing import Literal

from edge_agent import commands as cmd
from edge_agent import events as ev
from edge_agent.commands import Command
from edge_agent.events import ConnectAction, Event, Phase

IDLE_TIMER = "idle"
"""on_wake: ends the listening window when nobody speaks."""
DISCONNECT_TIMER = "disconnect"
"""on_wake: closes the connection after a while in standby, so idle costs nothing."""
REPLY_TIMER = "reply"
"""The session watchdog: the model owes us a message."""


class Conversation:
    """Turn-taking rules for one device. Thread: the event loop only. Never blocks.

    After each :meth:`receive`, call :meth:`commands_to_run` and execute the
    commands in order before receiving the next event.
    """

    def __init__(
        self,
        *,
        mode: Literal["always", "on_wake"],
        idle_timeout_s: float,
        turn_detection: Literal["auto", "push_to_talk"] = "auto",
        disconnect_after_s: float = 0.0,
        reply_timeout_s: float = 0.0,
        camera_policy: Literal["while_listening", "always", "on_request"] = "while_listening",
    ) -> None:
        self.mode = mode
        self.turn_detection = turn_detection
        self.idle_timeout_s = idle_timeout_s
        self.disconnect_after_s = disconnect_after_s
        self.reply_timeout_s = reply_timeout_s
        self.camera_policy = camera_policy
        self.phase = Phase.CONNECTING
        self.connected = False
        self.muted = False
        self.hard_muted = False
        self.camera_budget = True
        self.turns_allowed = True
        self.pending_tool_ids: set[str] = set()
        self.last_error = ""
        self._commands: list[Command] = []
        self._ever_connected = False
        self._dropped = False
        self._idle_timer_on = False
        self._replies_since_user = 0
        self._want_connection = False
        self._needs_person = False
        self._window_open = mode == "always"
        self._talking = False
        self._uplink_on = False
        self._camera_on = False
        self._responding = False
        self._generating = False
        self._awaiting_drain = False
        self._discarding_turn = False
        self._user_text: list[str] = []
        self._model_text: list[str] = []

    @property
    def busy(self) -> bool:
        """True while rotating the connection would lose something (a tool call or a reply in flight)."""
        return bool(self.pending_tool_ids) or self._generating or self._talking

    # ------------------------------------------------------------------ API

    def start(self) -> None:
        """Begin: connect right away (the first connection also warms up the session)."""
        self._want(True)
        self._settle()

    def receive(self, event: Event) -> None:
        """Apply one event. Repeated state events (two wakes, two mutes) are harmless."""
        self._apply(event)
        self._settle()

    def commands_to_run(self) -> list[Command]:
        """Return and forget the commands produced since the last call."""
        commands, self._commands = self._commands, []
        return commands

    # ------------------------------------------------------------ handlers

    def _apply(self, event: Event) -> None:  # noqa: C901 - one flat dispatch table reads best
        match event:
            case ev.SessionConnected():
                self.connected = self._ever_connected = True
                self._dropped = self._needs_person = False
                self.last_error = ""
                self._discarding_turn = False
            case ev.SessionDisconnected(reason=reason, action=action, handover=handover):
                if handover:  # the same session continues on the next connection
                    self.connected = False
                    self._dropped = True
                    if self._generating:  # a reply cut off mid-way is not finished on the new one
                        self._generating = False
                        self._awaiting_drain = True
                        self._emit(cmd.FinishPlayback())
                else:
                    self._on_disconnected(reason, action)
            case ev.WakeRequested():
                self._on_wake()
            case ev.TalkPressed():
                self._on_talk(pressed=True)
            case ev.TalkReleased():
                self._on_talk(pressed=False)
            case ev.MuteRequested(muted=muted):
                wanted = not self.muted if muted is None else muted
                if self.hard_muted and not wanted:
                    self._emit(cmd.PlayNotice("muted"))  # the switch wins over every software request
                else:
                    self._on_mute(wanted)
            case ev.HardMuteChanged(on=on):
                self.hard_muted = on
                self._on_mute(on)
            case ev.TextRequested(text=text):
                if not self.muted and self.turns_allowed:
                    self._on_wake()  # the answer may invite a reply: open the window
                    self._emit(cmd.SendText(text))
                    self._expect_reply()
            case ev.BudgetChanged(camera=camera, turns=turns):
                self.camera_budget = camera
                if self.turns_allowed and not turns:
                    self._emit(cmd.PlayNotice("budget"))
                    self._window_open = self.mode == "always"
                self.turns_allowed = turns
            case ev.ModelAudioReceived(pcm=pcm, received_at=received_at):
                if not self._discarding_turn:
                    self._model_active()
                    self._emit(cmd.PlayAudio(pcm, received_at))
            case ev.InputTranscribed(text=text, finished=finished):
                if not finished:
                    self._replies_since_user = 0  # the user is speaking again
                self._user_text.append(text)
                if finished:
                    self._log_user()
                    if self._replies_since_user == 0 and not self._responding:  # not a late transcript
                        self._expect_reply()
                if self._window_open and not self._responding:
                    self._restart_idle_timer()
            case ev.OutputTranscribed(text=text):
                if not self._discarding_turn:
                    self._model_active()
                    self._model_text.append(text)
            case ev.ModelInterrupted(received_at=received_at):
                self._on_interrupted(received_at)
            case ev.GenerationCompleted():
                self._generating = False
                self._emit(cmd.CancelTimer(REPLY_TIMER))
                self._log_model()
            case ev.TurnCompleted():
                self._on_turn_completed()
            case ev.ToolCallsReceived(calls=calls):
                self._model_active()
                self._log_model()  # what it said before acting is one utterance
                self.pending_tool_ids.update(call.id for call in calls)
                self._emit(cmd.CancelTimer(REPLY_TIMER), cmd.RunTools(calls))
            case ev.ToolCallsCancelled(ids=ids):
                self.pending_tool_ids.difference_update(ids)
                self._emit(cmd.UndoTools(ids))
            case ev.ToolCallsAnswered(ids=ids):
                self.pending_tool_ids.difference_update(ids)
                self._expect_reply()
            case ev.PlaybackDrained():
                self._on_drained()
            case ev.TimerFired(name=name):
                self._on_timer(name)
            case ev.GoAwayReceived():
                pass  # connection rotation is the session layer's job
            case _:  # pragma: no cover - exhaustiveness guard
                raise TypeError(f"unknown event {event!r}")

    def _on_disconnected(self, reason: str, action: ConnectAction) -> None:
        self.connected = False
        self._dropped = self._want_connection
        self._log_user()
        self._log_model()
        self.pending_tool_ids.clear()  # their responses can no longer be delivered
        self._generating = False
        self._emit(cmd.CancelTimer(REPLY_TIMER))
        if self._awaiting_drain or self._responding:
            self._awaiting_drain = True
            self._emit(cmd.FinishPlayback())  # let what already arrived play out
        if action is ConnectAction.NEEDS_PERSON:
            self._needs_person = True
            self.last_error = reason

    def _on_wake(self) -> None:
        if self.muted:
            self._emit(cmd.PlayNotice("muted"))
            return
        if not self.turns_allowed:
            self._emit(cmd.PlayNotice("budget"))
            return
        if self._responding:
            self._barge_in("button")
        if self.mode == "on_wake" and self.turn_detection == "auto":
            self._window_open = True
            self._restart_idle_timer()
        self._want(True)

    def _on_talk(self, *, pressed: bool) -> None:
        if self.turn_detection != "push_to_talk":
            if pressed:
                self._on_wake()
            return
        if pressed and not self._talking and not self.muted and self.turns_allowed:
            if self._responding:
                self._barge_in("button")
            self._talking = True
            self._want(True)
            self._settle_uplink()  # the uplink opens before activity_start is queued
            self._emit(cmd.SendSignal("activity_start"))
        elif not pressed and self._talking:
            self._talking = False
            self._emit(cmd.SendSignal("activity_end"))
            self._expect_reply()

    def _on_mute(self, muted: bool) -> None:
        if muted == self.muted:
            return
        self.muted = muted
        if muted:
            if self._responding:
                self._barge_in("mute")
            was_talking, self._talking = self._talking, False
            self._window_open = self.mode == "always"
            self._settle_uplink(discard=True)  # StopUplink first: nothing more goes out
            self._emit(cmd.SetMuted(True))
            if was_talking:
                self._emit(cmd.SendSignal("activity_end"))
            elif self.turn_detection == "auto":
                self._emit(cmd.SendSignal("audio_stream_end"))
        else:
            self._emit(cmd.SetMuted(False))

    def _barge_in(self, reason: str) -> None:
        """Silence the speaker now and ignore the rest of the model's current turn."""
        self._emit(cmd.FlushPlayback(reason))
        self._log_model(interrupted=True)
        self._discarding_turn = self._generating
        self._responding = self._awaiting_drain = self._generating = False
        self._emit(cmd.CancelTimer(REPLY_TIMER))

    def _on_interrupted(self, received_at: float | None) -> None:
        self._discarding_turn = False  # the server has moved on: what comes next is a new turn
        self._emit(cmd.FlushPlayback("interrupted", received_at))
        self._log_model(interrupted=True)
        self._responding = self._awaiting_drain = self._generating = False
        self._emit(cmd.CancelTimer(REPLY_TIMER))
        if self._window_open:
            self._restart_idle_timer()

    def _on_turn_completed(self) -> None:
        self._replies_since_user += 1
        self._log_user()
        self._log_model()
        self._discarding_turn = self._generating = False
        self._emit(cmd.CancelTimer(REPLY_TIMER))
        if self._responding:
            self._awaiting_drain = True
            self._emit(cmd.FinishPlayback())

    def _on_drained(self) -> None:
        if not self._awaiting_drain:
            return
        self._awaiting_drain = False
        if not self.pending_tool_ids:
            self._responding = False
            if self._window_open:
                self._restart_idle_timer()  # the follow-up window

    def _on_timer(self, name: str) -> None:
        if name == IDLE_TIMER and self.mode == "on_wake" and not self._responding:
            self._window_open = False
        elif name == DISCONNECT_TIMER and self._idle_timer_on:
            self._idle_timer_on = False
            self._want(False, reason="idle")
        elif name == REPLY_TIMER and self.connected:
            self._emit(cmd.Reconnect(f"no message from the model for {self.reply_timeout_s:.0f} s"))

    # ------------------------------------------------------------- helpers

    def _model_active(self) -> None:
        self._log_user()
        self._responding = self._generating = True
        self._emit(cmd.CancelTimer(IDLE_TIMER))
        if self.reply_timeout_s > 0:  # a reply that stalls mid-way also trips the watchdog
            self._emit(cmd.StartTimer(REPLY_TIMER, self.reply_timeout_s))

    def _expect_reply(self) -> None:
        if self.reply_timeout_s > 0 and self.connected:
            self._emit(cmd.StartTimer(REPLY_TIMER, self.reply_timeout_s))

    def _restart_idle_timer(self) -> None:
        if self.mode == "on_wake" and self.turn_detection == "auto":
            self._emit(cmd.StartTimer(IDLE_TIMER, self.idle_timeout_s))

    def _want(self, wanted: bool, *, reason: str = "") -> None:
        if wanted and not self._want_connection:
            self._emit(cmd.Connect())
        elif not wanted and self._want_connection:
            self._emit(cmd.Disconnect(reason))
        self._want_connection = wanted

    def _uplink_wanted(self) -> bool:
        hearing = self._talking if self.turn_detection == "push_to_talk" else self._window_open
        return hearing and not self.muted and self.turns_allowed

    def _settle_uplink(self, *, discard: bool = False) -> None:
        wanted = self._uplink_wanted()
        if wanted != self._uplink_on:
            self._uplink_on = wanted
            self._emit(cmd.StartUplink() if wanted else cmd.StopUplink(discard))
        if self.camera_policy == "always":
            camera = self._want_connection and not self.muted and self.turns_allowed
        elif self.camera_policy == "while_listening":
            camera = wanted and not self._responding  # the user speaking or just woke it
        else:
            camera = False  # on_request: only a look() call sends a frame
        camera = camera and self.camera_budget
        if camera != self._camera_on:
            self._camera_on = camera
            self._emit(cmd.SetCamera(camera))

    def _settle(self) -> None:
        """Derive uplink, camera, idle-close timer and phase from the state."""
        self._settle_uplink()
        idle = self._want_connection and self._phase_now() in (Phase.STANDBY, Phase.MUTED) and not self._responding
        if self.mode == "on_wake" and self.disconnect_after_s > 0 and idle != self._idle_timer_on:
            self._idle_timer_on = idle
            if idle:
                self._emit(cmd.StartTimer(DISCONNECT_TIMER, self.disconnect_after_s))
            else:
                self._emit(cmd.CancelTimer(DISCONNECT_TIMER))
        self._enter(self._phase_now())

    def _phase_now(self) -> Phase:
        if self.muted:
            return Phase.MUTED
        if self._needs_person and not self.connected:
            return Phase.ERROR
        offline = self._want_connection and not self.connected
        if offline and (self._uplink_on or self._dropped or not self._ever_connected):
            return Phase.RECONNECTING if self._dropped else Phase.CONNECTING
        if self._responding:
            return Phase.RESPONDING
        if self._uplink_on:
            return Phase.LISTENING
        return Phase.STANDBY

    def _log_user(self) -> None:
        text = "".join(self._user_text).strip()
        self._user_text.clear()
        if text:
            self._emit(cmd.LogTranscript("User", text))

    def _log_model(self, *, interrupted: bool = False) -> None:
        text = "".join(self._model_text).strip()
        self._model_text.clear()
        if text:
            self._emit(cmd.LogTranscript("Gemini", text + (" [interrupted]" if interrupted else "")))

    def _enter(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._emit(cmd.PhaseEntered(phase))

    def _emit(self, *commands: Command) -> None:
        self._commands.extend(commands)
