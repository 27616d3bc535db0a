"""The conversation core as tables: events in, commands out. No event loop, no I/O."""

from __future__ import annotations

import pytest

from edge_agent import events as ev
from edge_agent.conversation import IDLE_TIMER, Conversation
from edge_agent.events import Phase


def feed(conv: Conversation, *events: ev.Event) -> list[ev.Command]:
    out: list[ev.Command] = []
    for event in events:
        conv.receive(event)
        out.extend(conv.commands_to_run())
    return out


def kinds(commands: list[ev.Command]) -> list[str]:
    return [type(c).__name__ for c in commands]


def test_always_mode_streams_as_soon_as_connected() -> None:
    conv = Conversation(mode="always", idle_timeout_s=5)
    out = feed(conv, ev.SessionConnected())
    assert kinds(out) == ["PhaseEntered", "StartUplink"]
    assert conv.phase is Phase.LISTENING


def test_on_wake_waits_for_a_wake_then_listens_with_an_idle_timer() -> None:
    conv = Conversation(mode="on_wake", idle_timeout_s=5)
    assert kinds(feed(conv, ev.SessionConnected())) == ["PhaseEntered", "StopUplink"]
    assert conv.phase is Phase.STANDBY
    out = feed(conv, ev.WakeRequested("button"))
    assert out == [ev.PhaseEntered(Phase.LISTENING), ev.StartUplink(), ev.StartTimer(IDLE_TIMER, 5)]


def test_idle_timer_returns_to_standby_and_stops_the_uplink() -> None:
    conv = Conversation(mode="on_wake", idle_timeout_s=5)
    feed(conv, ev.SessionConnected(), ev.WakeRequested("button"))
    out = feed(conv, ev.TimerFired(IDLE_TIMER))
    assert out == [ev.PhaseEntered(Phase.STANDBY), ev.StopUplink()]


def test_idle_timer_is_ignored_in_always_mode() -> None:
    conv = Conversation(mode="always", idle_timeout_s=5)
    feed(conv, ev.SessionConnected())
    assert feed(conv, ev.TimerFired(IDLE_TIMER)) == []
    assert conv.phase is Phase.LISTENING


def test_wake_while_offline_does_nothing() -> None:
    conv = Conversation(mode="on_wake", idle_timeout_s=5)
    assert feed(conv, ev.WakeRequested("button")) == []
    assert conv.phase is Phase.CONNECTING


def test_a_full_turn_plays_audio_logs_both_sides_and_returns_to_listening_after_drain() -> None:
    conv = Conversation(mode="always", idle_timeout_s=5)
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
    assert out == [
        ev.LogTranscript("User", "turn on the light"),
        ev.PhaseEntered(Phase.RESPONDING),
        ev.CancelTimer(IDLE_TIMER),
        ev.PlayAudio(b"\x01\x00"),
        ev.PlayAudio(b"\x02\x00"),
        ev.LogTranscript("Gemini", "Sure, done."),
        ev.FinishPlayback(),
    ]
    assert conv.phase is Phase.RESPONDING  # until the speaker has played it out
    assert feed(conv, ev.PlaybackDrained()) == [ev.PhaseEntered(Phase.LISTENING)]


def test_interruption_flushes_playback_at_once_and_listens_again() -> None:
    conv = Conversation(mode="on_wake", idle_timeout_s=5)
    feed(conv, ev.SessionConnected(), ev.WakeRequested("button"), ev.ModelAudioReceived(b"\x00\x00"))
    feed(conv, ev.OutputTranscribed("a long answer"))
    out = feed(conv, ev.ModelInterrupted())
    assert out[0] == ev.FlushPlayback("interrupted")
    assert ev.LogTranscript("Gemini", "a long answer [interrupted]") in out
    assert conv.phase is Phase.LISTENING
    # The interrupted turn completes without playing anything more.
    assert feed(conv, ev.TurnCompleted()) == []


def test_button_during_a_reply_silences_it_and_drops_the_rest_of_that_turn() -> None:
    conv = Conversation(mode="on_wake", idle_timeout_s=5)
    feed(conv, ev.SessionConnected(), ev.WakeRequested("button"), ev.ModelAudioReceived(b"\x00\x00"))
    out = feed(conv, ev.WakeRequested("button"))
    assert out[0] == ev.FlushPlayback("button")
    assert conv.phase is Phase.LISTENING
    assert feed(conv, ev.ModelAudioReceived(b"\x05\x00")) == []  # late audio of the stopped turn
    feed(conv, ev.TurnCompleted())
    assert kinds(feed(conv, ev.ModelAudioReceived(b"\x06\x00"))) == ["PhaseEntered", "CancelTimer", "PlayAudio"]


def test_tool_calls_are_run_and_tracked_until_answered() -> None:
    conv = Conversation(mode="always", idle_timeout_s=5)
    feed(conv, ev.SessionConnected())
    call = ev.ToolCall("c1", "set_output", {"name": "lamp", "on": True})
    out = feed(conv, ev.ToolCallsReceived((call,)))
    assert out[-1] == ev.RunTools((call,))
    assert conv.pending_tool_ids == {"c1"}
    feed(conv, ev.ToolCallsAnswered(("c1",)))
    assert conv.pending_tool_ids == set()


def test_disconnect_stops_the_uplink_and_lets_received_audio_play_out() -> None:
    conv = Conversation(mode="always", idle_timeout_s=5)
    feed(conv, ev.SessionConnected(), ev.ModelAudioReceived(b"\x00\x00"))
    out = feed(conv, ev.SessionDisconnected("1011"))
    assert ev.StopUplink() in out and ev.FinishPlayback() in out
    assert conv.phase is Phase.CONNECTING
    assert feed(conv, ev.SessionConnected())[0] == ev.PhaseEntered(Phase.LISTENING)


@pytest.mark.parametrize("mode", ["always", "on_wake"])
def test_transcript_fragments_are_joined_per_turn(mode: str) -> None:
    conv = Conversation(mode=mode, idle_timeout_s=5)  # type: ignore[arg-type]
    feed(conv, ev.SessionConnected(), ev.WakeRequested("x"))
    out = feed(conv, ev.OutputTranscribed("Hel"), ev.OutputTranscribed("lo"), ev.TurnCompleted())
    assert ev.LogTranscript("Gemini", "Hello") in out
