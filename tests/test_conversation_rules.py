"""Mute, push-to-talk, the token budget and errors in the conversation core (pure tables)."""

from __future__ import annotations

from edge_agent import commands as cmd
from edge_agent import events as ev
from edge_agent.events import ConnectAction, Phase
from tests.test_conversation import feed, kinds, make


def test_mute_closes_the_uplink_before_saying_audio_stream_end() -> None:
    conv = make()
    feed(conv, ev.SessionConnected())
    out = feed(conv, ev.MuteRequested(True, "button"))
    assert out == [
        cmd.StopUplink(discard=True),
        cmd.SetCamera(False),
        cmd.SetMuted(True),
        cmd.SendSignal("audio_stream_end"),
        cmd.PhaseEntered(Phase.MUTED),
    ]
    assert feed(conv, ev.MuteRequested(True, "ctl")) == []  # idempotent


def test_mute_works_offline_and_wins_over_every_other_phase() -> None:
    conv = make()
    out = feed(conv, ev.MuteRequested(None, "button"))  # toggle, never connected
    assert cmd.SetMuted(True) in out and conv.phase is Phase.MUTED
    feed(conv, ev.SessionConnected(), ev.SessionDisconnected("1006"), ev.SessionConnected())
    assert conv.phase is Phase.MUTED
    assert cmd.StartUplink() not in feed(conv, ev.WakeRequested("button"))  # a wake while muted only blips
    out = feed(conv, ev.MuteRequested(None, "button"))
    assert out == [cmd.SetMuted(False), cmd.StartUplink(), cmd.SetCamera(True), cmd.PhaseEntered(Phase.LISTENING)]


def test_mute_during_a_reply_silences_it() -> None:
    conv = make()
    feed(conv, ev.SessionConnected(), ev.ModelAudioReceived(b"\x00\x00"))
    out = feed(conv, ev.MuteRequested(True, "button"))
    assert out[0] == cmd.FlushPlayback("mute")


def test_push_to_talk_frames_the_audio_with_activity_signals() -> None:
    conv = make(mode="on_wake", turn_detection="push_to_talk", disconnect_after_s=0)
    feed(conv, ev.SessionConnected())
    assert feed(conv, ev.TalkPressed()) == [
        cmd.StartUplink(),
        cmd.SetCamera(True),
        cmd.SendSignal("activity_start"),
        cmd.PhaseEntered(Phase.LISTENING),
    ]
    out = feed(conv, ev.TalkReleased())
    assert out[:3] == [cmd.SendSignal("activity_end"), cmd.StopUplink(), cmd.SetCamera(False)]
    assert feed(conv, ev.TalkReleased()) == []  # a stray release sends nothing


def test_a_long_hold_while_talking_mutes_and_ends_the_activity() -> None:
    conv = make(turn_detection="push_to_talk")
    feed(conv, ev.SessionConnected(), ev.TalkPressed())
    out = feed(conv, ev.MuteRequested(None, "button"))
    assert out[:4] == [cmd.StopUplink(True), cmd.SetCamera(False), cmd.SetMuted(True), cmd.SendSignal("activity_end")]
    assert feed(conv, ev.TalkReleased()) == []


def test_the_budget_stops_the_camera_first_then_refuses_turns_with_a_notice() -> None:
    conv = make()
    feed(conv, ev.SessionConnected())
    assert feed(conv, ev.BudgetChanged(camera=False, turns=True)) == [cmd.SetCamera(False)]
    out = feed(conv, ev.BudgetChanged(camera=False, turns=False))
    assert out == [cmd.PlayNotice("budget"), cmd.StopUplink(), cmd.PhaseEntered(Phase.STANDBY)]
    assert feed(conv, ev.WakeRequested("button")) == [cmd.PlayNotice("budget")]
    out = feed(conv, ev.BudgetChanged(camera=True, turns=True))  # the next day
    assert out == [cmd.StartUplink(), cmd.SetCamera(True), cmd.PhaseEntered(Phase.LISTENING)]


def test_an_auth_error_shows_as_error_until_a_connection_works() -> None:
    conv = make()
    feed(conv, ev.SessionDisconnected("auth error: the API key was refused", ConnectAction.NEEDS_PERSON))
    assert conv.phase is Phase.ERROR and conv.last_error.startswith("auth error")
    assert kinds(feed(conv, ev.SessionConnected()))[-1] == "PhaseEntered"
    assert conv.phase is Phase.LISTENING and conv.last_error == ""


def test_a_handover_that_cuts_a_reply_finishes_the_turn_instead_of_sticking_in_responding() -> None:
    conv = make()
    feed(conv, ev.SessionConnected(), ev.ModelAudioReceived(b"\x00\x00"))
    out = feed(conv, ev.SessionDisconnected("handover (reconnect)", handover=True))
    assert cmd.FinishPlayback() in out and not conv.busy
    feed(conv, ev.PlaybackDrained(), ev.SessionConnected(resumed=True))
    assert conv.phase is Phase.LISTENING


def test_a_transcript_arriving_after_the_reply_does_not_arm_the_watchdog() -> None:
    from edge_agent.conversation import REPLY_TIMER

    conv = make(reply_timeout_s=15)
    feed(conv, ev.SessionConnected(), ev.ModelAudioReceived(b"\x00\x00"), ev.TurnCompleted(), ev.PlaybackDrained())
    assert cmd.StartTimer(REPLY_TIMER, 15) not in feed(conv, ev.InputTranscribed("late words", True))
    out = feed(conv, ev.InputTranscribed("new ", False), ev.InputTranscribed("question", True))
    assert cmd.StartTimer(REPLY_TIMER, 15) in out  # a new utterance still does


def test_interrupted_after_a_button_barge_in_does_not_swallow_the_next_answer() -> None:
    conv = make()
    feed(conv, ev.SessionConnected(), ev.ModelAudioReceived(b"\x00\x00"), ev.WakeRequested("button"))
    feed(conv, ev.ModelInterrupted())
    assert cmd.PlayAudio(b"\x07\x00") in feed(conv, ev.ModelAudioReceived(b"\x07\x00"))


def test_talking_makes_the_session_busy_so_a_rotation_waits() -> None:
    conv = make(turn_detection="push_to_talk")
    feed(conv, ev.SessionConnected(), ev.TalkPressed())
    assert conv.busy
    feed(conv, ev.TalkReleased())
    assert not conv.busy


def test_camera_policies() -> None:
    listening = make(camera_policy="while_listening")
    feed(listening, ev.SessionConnected())
    assert listening.commands_to_run() == []
    assert cmd.SetCamera(False) in feed(listening, ev.ModelAudioReceived(b"\x00\x00"))  # not while it answers
    from edge_agent.conversation import Conversation

    always = Conversation(mode="on_wake", idle_timeout_s=5, camera_policy="always")
    always.start()
    assert cmd.SetCamera(True) in always.commands_to_run()  # not listening, connecting: frames anyway
    assert cmd.SetCamera(False) in feed(always, ev.MuteRequested(True, "button"))  # never while muted
    on_request = make(camera_policy="on_request")
    assert cmd.SetCamera(True) not in feed(on_request, ev.SessionConnected(), ev.WakeRequested("button"))


def test_the_hardware_mute_switch_overrides_every_software_request() -> None:
    conv = make()
    feed(conv, ev.SessionConnected())
    assert cmd.SetMuted(True) in feed(conv, ev.HardMuteChanged(True))
    assert feed(conv, ev.MuteRequested(False, "ctl")) == [cmd.PlayNotice("muted")]
    assert feed(conv, ev.MuteRequested(None, "button")) == [cmd.PlayNotice("muted")]
    assert conv.phase is Phase.MUTED
    assert cmd.SetMuted(False) in feed(conv, ev.HardMuteChanged(False))
    assert conv.phase is Phase.LISTENING
