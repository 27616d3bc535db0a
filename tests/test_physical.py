"""The physical side end to end: cancellation undoes, a crash leaves outputs safe, a long hold mutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from tests.conftest import base_config, run, running_daemon, wait_until


def gpio_states(tmp_path: Path, output: str) -> list[bool]:
    log = tmp_path / "gpio.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [e["state"] for e in map(json.loads, lines) if e["output"] == output]


def test_a_cancelled_tool_call_is_undone(tmp_path: Path) -> None:
    call = fs.FunctionCallSpec("set_output", {"name": "fan", "on": True}, id="c1")
    script = fs.Script(
        steps=(
            fs.Step(on=fs.OnSetup(), do=(fs.ToolCall((call,)),)),
            fs.Step(on=fs.OnToolResponse(), do=(fs.ToolCallCancellation(("c1",)),)),
        )
    )

    async def scenario() -> None:
        async with running_daemon(script, base_config(tmp_path, "")) as r:
            await wait_until(r.server.script_done.is_set, 10, "the cancellation")
            await wait_until(lambda: gpio_states(tmp_path, "fan") == [False, True, False], 5, "the undo")

    run(scenario())
    assert gpio_states(tmp_path, "fan") == [False, True, False]


def test_an_exception_in_the_daemon_still_leaves_every_output_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = fs.Script(steps=(fs.Step(on=fs.OnSetup(), do=(fs.ToolCall((fs.FunctionCallSpec(
        "set_output", {"name": "kitchen_light", "on": True}, id="c1"),)),)),))  # fmt: skip

    async def scenario() -> None:
        async with running_daemon(script, base_config(tmp_path, "")) as r:
            await wait_until(lambda: gpio_states(tmp_path, "kitchen_light")[-1:] == [True], 10, "the light on")
            r.daemon.post(None)  # type: ignore[arg-type]  # a bug: an event the core cannot handle
            with pytest.raises(TypeError):
                await r.task

    with pytest.raises(TypeError):  # the stop in running_daemon re-awaits the failed task
        run(scenario())
    assert gpio_states(tmp_path, "kitchen_light") == [False, True, False]  # back to its safe state (off)


def test_a_long_hold_mutes_and_a_tap_does_not(tmp_path: Path) -> None:
    config = base_config(
        tmp_path, "", listening={"mode": "on_wake", "disconnect_after_s": 0}, button={"pin": 27, "mute_hold_s": 0.3}
    )

    async def scenario() -> None:
        async with running_daemon(fs.Script(steps=()), config) as r:
            await wait_until(lambda: r.daemon.phase is Phase.STANDBY, 10, "standby")
            hw = r.daemon.hardware
            assert hw is not None
            hw.tap_button()
            await wait_until(lambda: r.daemon.phase is Phase.LISTENING, 5, "a tap wakes")
            hw.press_button(True)
            await wait_until(lambda: r.daemon.phase is Phase.MUTED, 5, "a long hold mutes")
            hw.press_button(False)
            frames = r.daemon.hardware.audio.mic_frames  # type: ignore[union-attr]
            await wait_until(lambda: r.daemon.hardware.audio.mic_frames > frames + 8000, 5, "0.5 s")  # type: ignore[union-attr]
            assert r.daemon.phase is Phase.MUTED  # the release after a hold is not a tap

    run(scenario())
