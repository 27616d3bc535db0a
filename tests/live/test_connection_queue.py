"""The connection manager's ordered uplink: no duplicates, at-least-once, and the privacy gate."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from edge_agent import events as ev
from edge_agent.live.connection import ConnectionManager
from edge_agent.live.resumption import Resumption
from edge_agent.live.session import LinkClosed


class GatedLink:
    """Stands in for LiveLink (our own class): records sends; the first audio send waits for a gate."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.gate = asyncio.Event()

    async def send_audio(self, pcm: bytes) -> None:
        if not self.sent:
            await self.gate.wait()
        self.sent.append(pcm)

    async def send_signal(self, kind: str) -> None:
        self.sent.append(kind)

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def send_tool_results(self, results: Any) -> None:
        self.sent.append("tools")


def manager() -> ConnectionManager:
    async def credential() -> str:
        return "k"

    return ConnectionManager(
        None,  # type: ignore[arg-type]  # no connection is opened in these tests
        credential,
        Resumption(),
        post=lambda event: None,
        busy=lambda: False,
        on_handle=lambda handle: None,
        on_usage=lambda tokens: None,
        on_status=lambda text: None,
        max_buffered_chunks=10,
    )


def test_tool_results_queued_during_a_send_go_next_and_nothing_is_sent_twice() -> None:
    async def scenario() -> list[Any]:
        conn, link = manager(), GatedLink()
        conn.push_audio(b"A")
        conn.push_audio(b"B")
        sender = asyncio.create_task(conn.pump(link))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)  # the sender is inside send_audio(A)
        conn.push_tool_results([ev.ToolResult("c1", "get_outputs", {})])
        link.gate.set()
        await asyncio.sleep(0.01)
        sender.cancel()
        return link.sent

    assert asyncio.run(scenario()) == [b"A", "tools", b"B"]


def test_an_item_whose_send_failed_goes_first_on_the_next_connection() -> None:
    class Broken(GatedLink):
        async def send_audio(self, pcm: bytes) -> None:
            raise LinkClosed(1006, "gone")

    async def scenario() -> list[Any]:
        conn = manager()
        conn.push_audio(b"A")
        with contextlib.suppress(LinkClosed):
            await conn.pump(Broken())  # type: ignore[arg-type]
        link = GatedLink()
        link.gate.set()
        sender = asyncio.create_task(conn.pump(link))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        sender.cancel()
        return link.sent

    assert asyncio.run(scenario()) == [b"A"]


def test_muting_drops_held_audio_and_text_but_keeps_signals_and_tool_results() -> None:
    conn = manager()
    conn.push_audio(b"said before the mute")
    conn.push_text("typed before the mute")
    conn.push_signal("audio_stream_end")
    conn.push_tool_results([ev.ToolResult("c1", "get_outputs", {})])
    conn.muted = True
    conn.push_audio(b"after")
    conn.push_text("after")
    assert conn.queued_kinds() == ["tools", "signal"]
