"""The conversation core: a sans-I/O state machine (events in, commands out).

No asyncio, no google.genai, no hardware: the supervisor feeds it events with
:meth:`Conversation.receive` and runs what :meth:`Conversation.commands_to_run`
returns, in order. That keeps barge-in, wake and turn-taking rules testable as
plain tables (see ``tests/test_conversation.py``).

Phases (:class:`edge_agent.events.Phase`)::

    CONNECTING --connected--> LISTENING (mode "always")  or  STANDBY (mode "on_wake")
    STANDBY    --wake-------> LISTENING            (uplink on, idle timer)
    LISTENING  --model audio / tool call--> RESPONDING
    RESPONDING --turn complete + playback drained--> LISTENING (idle timer: follow-up window)
    LISTENING  --idle timer (on_wake)--> STANDBY   (uplink off)
    any        --disconnected--> CONNECTING        (uplink off)
"""

from __future__ import annotations

from typing import Literal

from edge_agent import events as ev
from edge_agent.events import Command, Event, Phase

IDLE_TIMER = "idle"
"""Name of the timer that ends listening in ``on_wake`` mode."""


class Conversation:
    """Turn-taking rules for one device. Thread: the event loop only. Never blocks.

    After each :meth:`receive`, call :meth:`commands_to_run` and execute the
    commands in order before receiving the next event.
    """

    def __init__(self, *, mode: Literal["always", "on_wake"], idle_timeout_s: float) -> None:
        self.mode = mode
        self.idle_timeout_s = idle_timeout_s
        self.phase = Phase.CONNECTING
        self.pending_tool_ids: set[str] = set()
        self._commands: list[Command] = []
        self._user_text: list[str] = []
        self._model_text: list[str] = []
        self._discarding_turn = False
        self._awaiting_drain = False

    # ------------------------------------------------------------------ API

    def receive(self, event: Event) -> None:
        """Apply one event. Idempotent for repeated state events (e.g. two wakes)."""
        match event:
            case ev.SessionConnected():
                self._on_connected()
            case ev.SessionDisconnected():
                self._on_disconnected()
            case ev.WakeRequested():
                self._on_wake()
            case ev.ModelAudioReceived(pcm=pcm):
                if not self._discarding_turn:
                    self._model_active()
                    self._emit(ev.PlayAudio(pcm))
            case ev.InputTranscribed(text=text, finished=finished):
                self._user_text.append(text)
                if finished:
                    self._log_user()
                if self.phase is Phase.LISTENING:
                    self._restart_idle_timer()
            case ev.OutputTranscribed(text=text):
                if not self._discarding_turn:
                    self._model_active()
                    self._model_text.append(text)
            case ev.ModelInterrupted():
                self._on_interrupted()
            case ev.GenerationCompleted():
                self._log_model()
            case ev.TurnCompleted():
                self._on_turn_completed()
            case ev.ToolCallsReceived(calls=calls):
                self._model_active()
                self._log_model()  # what it said before acting is one utterance
                self.pending_tool_ids.update(call.id for call in calls)
                self._emit(ev.RunTools(calls))
            case ev.ToolCallsCancelled(ids=ids) | ev.ToolCallsAnswered(ids=ids):
                self.pending_tool_ids.difference_update(ids)
            case ev.PlaybackDrained():
                self._on_drained()
            case ev.TimerFired(name=name):
                if name == IDLE_TIMER and self.phase is Phase.LISTENING and self.mode == "on_wake":
                    self._enter(Phase.STANDBY)
                    self._emit(ev.StopUplink())
            case ev.GoAwayReceived():
                pass  # connection rotation is the session layer's job
            case _:  # pragma: no cover - exhaustiveness guard
                raise TypeError(f"unknown event {event!r}")

    def commands_to_run(self) -> list[Command]:
        """Return and forget the commands produced since the last call."""
        commands, self._commands = self._commands, []
        return commands

    # ------------------------------------------------------------ handlers

    def _on_connected(self) -> None:
        self._discarding_turn = False
        if self.mode == "always":
            self._enter(Phase.LISTENING)
            self._emit(ev.StartUplink())
        else:
            self._enter(Phase.STANDBY)
            self._emit(ev.StopUplink())

    def _on_disconnected(self) -> None:
        self._log_user()
        self._log_model()
        self.pending_tool_ids.clear()  # their responses can no longer be delivered
        self._emit(ev.StopUplink(), ev.CancelTimer(IDLE_TIMER))
        if self._awaiting_drain or self.phase is Phase.RESPONDING:
            self._emit(ev.FinishPlayback())  # let what already arrived play out
        self._awaiting_drain = False
        self._enter(Phase.CONNECTING)

    def _on_wake(self) -> None:
        if self.phase is Phase.CONNECTING:
            return
        if self.phase is Phase.RESPONDING:
            # Barge-in by button: silence the speaker now and ignore the rest of this turn.
            self._emit(ev.FlushPlayback("button"))
            self._log_model(interrupted=True)
            self._discarding_turn = True
            self._awaiting_drain = False
        if self.phase is not Phase.LISTENING:
            self._enter(Phase.LISTENING)
            self._emit(ev.StartUplink())
        self._restart_idle_timer()

    def _on_interrupted(self) -> None:
        self._emit(ev.FlushPlayback("interrupted"))
        self._log_model(interrupted=True)
        self._awaiting_drain = False
        if self.phase is Phase.RESPONDING:
            self._enter(Phase.LISTENING)
            self._restart_idle_timer()

    def _on_turn_completed(self) -> None:
        self._log_user()
        self._log_model()
        self._discarding_turn = False
        if self.phase is Phase.RESPONDING:
            self._awaiting_drain = True
            self._emit(ev.FinishPlayback())

    def _on_drained(self) -> None:
        if not self._awaiting_drain:
            return
        self._awaiting_drain = False
        if self.phase is Phase.RESPONDING and not self.pending_tool_ids:
            self._enter(Phase.LISTENING)
            self._restart_idle_timer()

    # ------------------------------------------------------------- helpers

    def _model_active(self) -> None:
        self._log_user()
        if self.phase in (Phase.LISTENING, Phase.STANDBY):
            self._enter(Phase.RESPONDING)
            self._emit(ev.CancelTimer(IDLE_TIMER))

    def _restart_idle_timer(self) -> None:
        if self.mode == "on_wake":
            self._emit(ev.StartTimer(IDLE_TIMER, self.idle_timeout_s))

    def _log_user(self) -> None:
        text = "".join(self._user_text).strip()
        self._user_text.clear()
        if text:
            self._emit(ev.LogTranscript("User", text))

    def _log_model(self, *, interrupted: bool = False) -> None:
        text = "".join(self._model_text).strip()
        self._model_text.clear()
        if text:
            self._emit(ev.LogTranscript("Gemini", text + (" [interrupted]" if interrupted else "")))

    def _enter(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._emit(ev.PhaseEntered(phase))

    def _emit(self, *commands: Command) -> None:
        self._commands.extend(commands)
