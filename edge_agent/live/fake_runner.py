"""Running a fake Live script against the server's connections, one step after another.

:class:`ScriptRunner` waits for each step's trigger (:mod:`edge_agent.live.fake_watch`)
over the messages the server recorded, then performs its actions: message actions are
rendered (:mod:`edge_agent.live.fake_render`) and sent on the newest open connection;
:class:`~edge_agent.live.fake_steps.Wait`, ``Close`` and ``Drop`` act on it directly.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed

from edge_agent.live.fake_render import RenderContext, render
from edge_agent.live.fake_steps import Action, After, Close, Drop, Script, Trigger, Wait
from edge_agent.live.fake_watch import watch
from edge_agent.live.fake_wire import truncate_reason

if TYPE_CHECKING:
    from edge_agent.live.fake_server import FakeLiveServer

_LOGGER = logging.getLogger("edge_agent.live.fake_server")  # logs as part of the server it drives


class ScriptRunner:
    """Runs a script on the server's newest connection. One per server; Thread: the server's loop."""

    def __init__(self, server: FakeLiveServer, script: Script) -> None:
        self.status = "not started"
        """What the runner is doing, for error messages: the step and trigger or action."""
        self._server = server
        self._script = script
        self._cursor = 0  # index into server.messages of the first message not yet watched
        self._call_ids = (f"call-{n}" for n in itertools.count(1))

    async def run(self) -> None:
        """Run every step (forever if the script repeats), then set ``script_done``."""
        steps = self._script.steps
        while True:
            for number, step in enumerate(steps, 1):
                where = f"step {number}/{len(steps)}"
                self.status = f"{where}: waiting for {step.on!r}"
                context = await self._wait(step.on)
                for index, action in enumerate(step.do, 1):
                    self.status = f"{where}: action {index}/{len(step.do)} {action!r}"
                    await self._perform(action, context)
            if not self._script.repeat:
                break
        self.status = "done"
        self._server.script_done.set()

    async def _wait(self, trigger: Trigger) -> RenderContext:
        """Wait for ``trigger``; return what an action may need (the audio heard meanwhile)."""
        if isinstance(trigger, After):
            await asyncio.sleep(trigger.seconds)
            return RenderContext(call_ids=self._call_ids)
        watcher = watch(trigger)
        heard: list[bytes] = []
        rate: int | None = None
        messages, connections = self._server.messages, self._server.connections
        while True:
            while self._cursor < len(messages):
                message = messages[self._cursor]
                self._cursor += 1
                if not connections[message.connection].accepted:
                    continue  # a rejected setup establishes nothing
                if pcm := message.pcm():
                    heard.append(pcm)
                    rate = rate or message.pcm_rate()
                if watcher.feed(message):
                    return RenderContext(b"".join(heard), rate or 16_000, self._call_ids)
            await self._server._wait_news()

    async def _perform(self, action: Action, context: RenderContext) -> None:
        match action:
            case Wait(seconds=seconds):
                await asyncio.sleep(seconds)
            case Close(code=code, reason=reason):
                _, ws = await self._server._newest()
                await ws.close(code, truncate_reason(reason))
            case Drop():
                index, ws = await self._server._newest()
                self._server.connections[index].dropped = True
                ws.transport.abort()
            case _:
                loop = asyncio.get_running_loop()
                start, due = loop.time(), 0.0
                for outgoing in render(action, context):
                    index, ws = await self._server._newest()
                    try:
                        await self._server._send(ws, index, outgoing.payload)
                    except ConnectionClosed:
                        _LOGGER.info("connection %d closed; a scripted message was lost", index)
                    if outgoing.pace_s:
                        due += outgoing.pace_s
                        await asyncio.sleep(max(0.0, start + due - loop.time()))
