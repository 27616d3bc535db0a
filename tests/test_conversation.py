"""The conversation core as tables: events in, commands out. No event loop, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent import commands as cmd
from edge_agent import events as ev
from edge_agent.conversation import DISCONNECT_TIMER, IDLE_TIMER, REPLY_TIMER, Conversation
from edge_agent.events import Phase


def make(**kwargs: Any) -> Conversation:
    conv = Conversation(**{"mode": "always", "idle_timeout_s": 5, **kwargs})
    conv.start()
    conv.commands_to_run()
    return conv


def feed(conv: Conversation, *events: ev.Event) -> list[cmd.Command]:
    out: list[cmd.Command] = []
    for event in events:
        conv.receive(event)
        out.extend(conv.commands_to_run())
    return out


def kinds(commands: list[cmd.Command]) -> list[str]:
    return [type(c).__name__ for c in commands]


def test_always_mode_connects_and_streams_from_the_start_buffering_until_connected() -> None:
    conv = Conversation(mode="always", idle_timeout_s=5)
    conv.start()
    assert conv.commands_to_run() == [cmd.Connect(), cmd.StartUplink(), cmd.SetCamera(True)]
    assert conv.phase is Phase.CONNECTING
    assert feed(conv, ev.SessionConnected()) == [cmd.PhaseEntered(Phase.LISTENING)]


def test_on_wake_connects_then_waits_for_a_wake() -> None:
    conv = make(mode="on_wake", disconnect_after_s=0)
    assert feed(conv, ev.SessionConnected()) == [cmd.PhaseEntered(Phase.STANDBY)]
    out = feed(conv, ev.WakeRequested("button"))
    assert out == [
        cmd.StartTimer(IDLE_TIMER, 5),
        cmd.StartUplink(),
        cmd.SetCamera(True),
        cmd.PhaseEntered(Phase.LISTENING),
    ]


def test_idle_timer_returns_to_standby_and_stops_the_uplink() -> None:
    conv = make(mode="on_wake", disconnect_after_s=0)
    feed(conv, ev.SessionConnected(), ev.WakeRequested("button"))
    out = feed(conv, ev.TimerFired(IDLE_TIMER))
    assert out == [cmd.StopUplink(), cmd.SetCamera(False), cmd.PhaseEntered(Phase.STANDBY)]


def test_standby_closes_the_connection_after_a_while_and_a_wake_reopens_it() -> None:
    conv = make(mode="on_wake", disconnect_after_s=60)
    out = feed(conv, ev.SessionConnected())
    assert cmd.StartTimer(DISCONNECT_TIMER, 60) in out
    assert feed(conv, ev.TimerFired(DISCONNECT_TIMER)) == [cmd.Disconnect("idle")]
    assert kinds(feed(conv, ev.SessionDisconnected("closed while idle"))) == ["CancelTimer"]
    assert conv.phase is Phase.STANDBY  # idle, not an outage
    out = feed(conv, ev.WakeRequested("button"))
    assert cmd.Connect() in out and cmd.StartUplink() in out
    assert conv.phase is Phase.CONNECTING  # audio is buffered until the connection is up
    assert feed(conv, ev.SessionConnected())[-1] == cmd.PhaseEntered(Phase.LISTENING)


def test_the_disconnect_timer_is_cancelled_by_a_wake() -> None:
    conv = make(mode="on_wake", disconnect_after_s=60)
    feed(conv, ev.SessionConnected())
    assert cmd.CancelTimer(DISCONNECT_TIMER) in feed(conv, ev.WakeRequested("button"))
    assert feed(conv, ev.TimerFired(DISCONNECT_TIMER)) == []  # a late timer changes nothing


def test_idle_timer_is_ignored_in_always_mode() -> None:
    conv = make()
    feed(conv, ev.SessionConnected())
    assert feed(conv, ev.TimerFired(IDLE_TIMER)) == []
    assert conv.phase is Phase.LISTENING


def test_a_full_turn_plays_audio_logs_both_sides_and_returns_to_listening_after_drain() -> None:
    conv = make()
    feed(conv, ev.SessionConnected())
    out = feed(
        conv,
        ev.InputTranscribed("turn on ", False),
        ev.InputTranscribed("the light", True),
        ev.ModelAudioReceived(b"\x01\x00"),
        ev.OutputTranscribed("Sure, "),
        ev.ModelAudioReceived(b"\x02\x00"),
        ev.OutputTranscribed("done."),
        ev.GenerationCompleted(),
        ev.TurnCompleted(),
    )
    assert [c for c in out if not isinstance(c, (cmd.StartTimer, cmd.CancelTimer, cmd.SetCamera))] == [
        cmd.LogTranscript("User", "turn on the light"),
        cmd.PlayAudio(b"\x01\x00"),
        cmd.PhaseEntered(Phase.RESPONDING),
        cmd.PlayAudio(b"\x02\x00"),
        cmd.LogTranscript("Gemini", "Sure, done."),
        cmd.FinishPlayback(),
    ]
    assert conv.phase is Phase.RESPONDING  # until the speaker has played it out
    assert feed(conv, ev.PlaybackDrained()) == [cmd.SetCamera(True), cmd.PhaseEntered(Phase.LISTENING)]


def test_interruption_flushes_playback_at_once_and_listens_again() -> None:
    conv = make(mode="on_wake")
    feed(conv, ev.SessionConnected(), ev.WakeRequested("button"), ev.ModelAudioReceived(b"\x00\x00"))
    feed(conv, ev.OutputTranscribed("a long answer"))
    out = feed(conv, ev.ModelInterrupted())
    assert out[0] == cmd.FlushPlayback("interrupted")
    assert cmd.LogTranscript("Gemini", "a long answer [interrupted]") in out
    assert conv.phase is Phase.LISTENING
    assert kinds(feed(conv, ev.TurnCompleted())) == ["CancelTimer"]  # nothing more to play


def test_button_during_a_reply_silences_it_and_drops_the_rest_of_that_turn() -> None:
    conv = make(mode="on_wake")
    feed(conv, ev.SessionConnected(), ev.WakeRequested("button"), ev.ModelAudioReceived(b"\x00\x00"))
    out = feed(conv, ev.WakeRequested("button"))
    assert out[0] == cmd.FlushPlayback("button")
    assert conv.phase is Phase.LISTENING
    assert feed(conv, ev.ModelAudioReceived(b"\x05\x00")) == []  # late audio of the stopped turn
    feed(conv, ev.TurnCompleted())
    assert cmd.PlayAudio(b"\x06\x00") in feed(conv, ev.ModelAudioReceived(b"\x06\x00"))


def test_tool_calls_are_run_and_tracked_until_answered() -> None:
    conv = make()
    feed(conv, ev.SessionConnected())
    call = ev.ToolCall("c1", "set_output", {"name": "lamp", "on": True})
    out = feed(conv, ev.ToolCallsReceived((call,)))
    assert out[-3:] == [cmd.RunTools((call,)), cmd.SetCamera(False), cmd.PhaseEntered(Phase.RESPONDING)]
    assert conv.pending_tool_ids == {"c1"} and conv.busy
    feed(conv, ev.ToolCallsAnswered(("c1",)))
    assert conv.pending_tool_ids == set()


def test_a_drop_stops_nothing_but_reports_reconnecting_and_lets_received_audio_play() -> None:
    conv = make()
    feed(conv, ev.SessionConnected(), ev.ModelAudioReceived(b"\x00\x00"))
    out = feed(conv, ev.SessionDisconnected("1011"))
    assert cmd.FinishPlayback() in out and cmd.StopUplink() not in out  # audio is held for the next connection
    feed(conv, ev.PlaybackDrained())
    assert conv.phase is Phase.RECONNECTING
    assert feed(conv, ev.SessionConnected())[-1] == cmd.PhaseEntered(Phase.LISTENING)


def test_a_handover_keeps_pending_tool_calls() -> None:
    conv = make()
    feed(conv, ev.SessionConnected(), ev.ToolCallsReceived((ev.ToolCall("c1", "get_outputs"),)))
    feed(conv, ev.SessionDisconnected("handover (rotate)", handover=True))
    assert conv.pending_tool_ids == {"c1"}


@pytest.mark.parametrize("mode", ["always", "on_wake"])
def test_transcript_fragments_are_joined_per_turn(mode: str) -> None:
    conv = make(mode=mode)
    feed(conv, ev.SessionConnected(), ev.WakeRequested("x"))
    out = feed(conv, ev.OutputTranscribed("Hel"), ev.OutputTranscribed("lo"), ev.TurnCompleted())
    assert cmd.LogTranscript("Gemini", "Hello") in out


def test_the_reply_watchdog_asks_for_a_reconnect_when_the_model_goes_silent() -> None:
    conv = make(reply_timeout_s=15)
    feed(conv, ev.SessionConnected())
    assert cmd.StartTimer(REPLY_TIMER, 15) in feed(conv, ev.InputTranscribed("hello?", True))
    assert feed(conv, ev.TimerFired(REPLY_TIMER)) == [cmd.Reconnect("no message from the model for 15 s")]


def test_the_reply_watchdog_is_disarmed_by_the_end_of_generation() -> None:
    conv = make(reply_timeout_s=15)
    feed(conv, ev.SessionConnected(), ev.InputTranscribed("hi", True), ev.ModelAudioReceived(b"\x00\x00"))
    assert cmd.CancelTimer(REPLY_TIMER) in feed(conv, ev.GenerationCompleted())
    assert not conv.busy
