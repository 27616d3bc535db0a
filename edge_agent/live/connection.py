"""Keeps one Live connection up while the conversation wants one: rotation, resumption, backoff.

The :class:`ConnectionManager` owns the ordered uplink (microphone chunks, control
signals, tool results), the privacy gate, the resumption handle and the GoAway plan.
It rotates a connection before a ``goAway`` deadline — when nothing is in flight if it
can, always before the deadline — closing the old socket first (the server refuses a
resume while it is open), and sends what was captured meanwhile on the new one. After
a failure it asks :func:`edge_agent.live.retry.classify` what to do and waits on a
jittered backoff: fast for network trouble, slow for things a person must fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from edge_agent import events as ev
from edge_agent.live.resumption import GoAwayPlan, Handle, Resumption
from edge_agent.live.retry import Action, Backoff, Decision, classify
from edge_agent.live.session import HandleUpdate, LinkClosed, LiveClient, LiveLink, UsageUpdate

_LOGGER = logging.getLogger(__name__)

STABLE_CONNECTION_S = 10.0
"""A connection that lasted this long resets the backoff: the next drop is retried within a second."""
WATCH_INTERVAL_S = 0.05
"""How often the rotation / idle / reconnect conditions are checked (independent of the receive loop)."""

_ACTIONS = {Action.RESUME: ev.ConnectAction.RESUME, Action.FRESH: ev.ConnectAction.FRESH}


class _Outcome(enum.Enum):
    ROTATE = "rotate"
    IDLE = "idle"
    RECONNECT = "reconnect"


class ConnectionManager:
    """One Live connection at a time. Thread: event loop. Run :meth:`run` as a task.

    ``credential`` is awaited before every connection (the API key, or a fresh
    ephemeral token); ``busy`` says whether a rotation now would cut something off.
    """

    def __init__(
        self,
        client: LiveClient,
        credential: Callable[[], Awaitable[str]],
        resumption: Resumption,
        *,
        post: Callable[[ev.Event], None],
        busy: Callable[[], bool],
        on_handle: Callable[[Handle | None], None],
        on_usage: Callable[[int], None],
        on_status: Callable[[str], None],
        max_buffered_chunks: int,
        on_audio_sent: Callable[[float], None] | None = None,
    ) -> None:
        self.client = client
        self.resumption = resumption
        self.link: LiveLink | None = None
        self._muted = False
        self.last_decision: Decision | None = None
        self.connections = 0
        self.rotations = 0
        self.dropped_chunks = 0
        self._credential = credential
        self._post = post
        self._busy = busy
        self._on_handle = on_handle
        self._on_usage = on_usage
        self._on_status = on_status
        self._max_chunks = max_buffered_chunks
        self._on_audio_sent = on_audio_sent
        self._queue: deque[tuple[str, object]] = deque()
        self._queued = asyncio.Event()
        self._wanted = asyncio.Event()
        self._reconnect_reason = ""
        self._goaway: GoAwayPlan | None = None
        self._stopping = False
        self._sending = False
        self._linked_at: float | None = None

    # ------------------------------------------------------------- requests

    @property
    def muted(self) -> bool:
        """The privacy gate: while True no audio, video or text is sent, whatever else asks."""
        return self._muted

    @muted.setter
    def muted(self, muted: bool) -> None:
        self._muted = muted
        if muted:  # what was captured or typed before the mute never leaves either
            self._queue = deque(item for item in self._queue if item[0] not in ("audio", "text"))

    def want(self, wanted: bool) -> None:
        """Keep a connection up (True) or close it and stay closed (False). Idempotent."""
        if wanted:
            self._wanted.set()
        else:
            self._wanted.clear()

    def request_reconnect(self, reason: str) -> None:
        """Drop the current connection and resume on a new one."""
        if self.link is not None:
            self._reconnect_reason = reason

    def push_audio(self, chunk: bytes, captured_at: float | None = None) -> None:
        """Queue a microphone chunk (held while offline, oldest dropped beyond the handover buffer).

        ``captured_at``: ``time.monotonic()`` of the capture read that completed it; once the chunk
        is on the wire, ``on_audio_sent(captured_at)`` reports it (for the mic → wire figure).
        """
        if self.muted:
            return
        self._queue.append(("audio", (chunk, captured_at)))
        if self.link is None and len(self._queue) > self._max_chunks:
            for i, (kind, _) in enumerate(self._queue):
                if kind == "audio":
                    del self._queue[i]
                    self.dropped_chunks += 1
                    break
        self._queued.set()

    def push_signal(self, kind: str) -> None:
        """Queue ``activity_start`` / ``activity_end`` / ``audio_stream_end`` in order with the audio."""
        self._queue.append(("signal", kind))
        self._queued.set()

    def push_text(self, text: str) -> None:
        """Queue text input for the model, in order with the audio (dropped while muted)."""
        if self.muted:
            return
        self._queue.append(("text", text))
        self._queued.set()

    def push_tool_results(self, results: Sequence[ev.ToolResult]) -> None:
        """Queue tool results; they survive a handover and go out first on the next connection."""
        self._queue.appendleft(("tools", tuple(results)))
        self._queued.set()

    def clear_audio(self) -> None:
        """Forget queued microphone audio (the uplink was switched off)."""
        self._queue = deque(item for item in self._queue if item[0] != "audio")

    async def send_video(self, jpeg: bytes) -> bool:
        """Send a camera frame now if connected and not muted; returns whether it went out."""
        link = self.link
        if link is None or self.muted:
            return False
        try:
            await link.send_video(jpeg)
        except LinkClosed:
            return False  # the receive side sees the close and reconnects
        return True

    async def close(self) -> None:
        """Shutting down: close the connection normally (1000) and do not reconnect. Idempotent.

        Never raises: a close handshake that does not finish in 2 s (a dead network) is abandoned.
        """
        self._stopping = True
        self._wanted.clear()
        if self.link is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.link.close(), 2.0)

    # ------------------------------------------------------------------ run

    async def run(self) -> None:
        """Connect whenever wanted, forever. Cancel to stop."""
        backoff, slow = Backoff(1.0, 60.0), Backoff(30.0, 600.0)
        while not self._stopping:
            await self._wanted.wait()
            self._linked_at = None
            try:
                outcome = await self._connect_once()
            except Exception as e:  # noqa: BLE001 - any failure is classified and retried, never fatal
                if self._stopping:
                    return
                closed = e if isinstance(e, LinkClosed) else LinkClosed(None, f"{type(e).__name__}: {e}")
                if not isinstance(e, LinkClosed):
                    _LOGGER.exception("unexpected error on the Live connection")
                decision = self.last_decision = classify(closed.code, closed.reason)
                if self._linked_at is not None and time.monotonic() - self._linked_at > STABLE_CONNECTION_S:
                    backoff.reset()
                    slow.reset()
                await self._after_failure(closed, decision, slow if decision.action is Action.NEEDS_PERSON else backoff)
                continue
            if outcome is _Outcome.IDLE:
                self._post(ev.SessionDisconnected("closed while idle", ev.ConnectAction.RESUME))
            else:
                self.rotations += 1
                self._post(
                    ev.SessionDisconnected(f"handover ({outcome.value})", ev.ConnectAction.RESUME, handover=True)
                )

    async def _after_failure(self, error: LinkClosed, decision: Decision, schedule: Backoff) -> None:
        if decision.action is Action.FRESH:
            self.resumption.forget()
            self._on_handle(None)
            # Answers to the old session's calls mean nothing to a new one (and may be refused again).
            self._queue = deque(item for item in self._queue if item[0] != "tools")
        delay = schedule.next()
        action = _ACTIONS.get(decision.action, ev.ConnectAction.NEEDS_PERSON)
        self._post(ev.SessionDisconnected(decision.why, action))
        if decision.action is Action.NEEDS_PERSON:
            _LOGGER.error(
                "Live connection refused (%s): %s; %s; retrying in %.0f s",
                error,
                decision.why,
                decision.hint,
                delay,
                extra={"CLOSE_CODE": error.code},
            )
            self._on_status(f"{decision.why}: {decision.hint}")
        else:
            _LOGGER.warning(
                "Live connection ended (%s): %s; reconnecting in %.1f s",
                error,
                decision.why,
                delay,
                extra={"CLOSE_CODE": error.code},
            )
            self._on_status(f"offline: retrying in {delay:.0f} s")
        await asyncio.sleep(delay)

    async def _connect_once(self) -> _Outcome:
        """One connection from open to close; returns why it ended, or raises LinkClosed."""
        credential = await self._credential()
        handle = self.resumption.handle_for_connect(time.time())
        async with self.client.connect(credential, handle) as link:
            self.link = link
            self._linked_at = time.monotonic()
            self.connections += 1
            self._goaway = None
            self._reconnect_reason = ""
            _LOGGER.info(
                "connected to the Live API (model %s, %s)",
                self.client.settings.model,
                "resumed" if handle else "new session",
            )
            self._post(ev.SessionConnected(resumed=handle is not None))
            self._on_status("connected")
            try:
                outcome = await self._serve(link)
                await link.close()  # the old socket goes before a resume (the server refuses two)
                return outcome
            finally:
                self.link = None
                self.resumption.touch(time.time())  # a handle stays valid 2 h after the session's last close
                self._on_handle(self.resumption.handle)

    async def _serve(self, link: LiveLink) -> _Outcome:
        receiver = asyncio.create_task(self._receive(link), name="live-receive")
        sender = asyncio.create_task(self.pump(link), name="live-send")
        watcher = asyncio.create_task(self._watch(), name="live-watch")
        try:
            done, _ = await asyncio.wait([receiver, sender, watcher], return_when=asyncio.FIRST_COMPLETED)
            if watcher in done:
                # A planned end: let the sender finish the message it is writing, so nothing is
                # cut in half or sent twice; what is still queued goes out on the next connection.
                self._sending = False
                self._queued.set()
                with contextlib.suppress(asyncio.TimeoutError, LinkClosed):
                    await asyncio.wait_for(asyncio.shield(sender), 2.0)
                return watcher.result()
            for task in done:
                task.result()  # raises LinkClosed
            raise LinkClosed(None, "the connection tasks ended")  # pragma: no cover - the loops are endless
        finally:
            for task in (receiver, sender, watcher):
                task.cancel()
            await asyncio.gather(receiver, sender, watcher, return_exceptions=True)

    async def _receive(self, link: LiveLink) -> None:
        async for item in link.events():
            if isinstance(item, HandleUpdate):
                if self.resumption.update(item.handle, item.resumable, time.time()):
                    self._on_handle(self.resumption.handle)
            elif isinstance(item, UsageUpdate):
                self._on_usage(item.total_tokens)
            elif isinstance(item, ev.GoAwayReceived):
                self._goaway = GoAwayPlan(time.monotonic(), item.time_left_s)
                _LOGGER.info("server sent goAway: %.1f s left; rotating the connection", item.time_left_s)
            else:
                self._post(item)

    def queued_kinds(self) -> list[str]:
        """What waits to be sent, in order (``audio``, ``signal``, ``text``, ``tools``)."""
        return [kind for kind, _ in self._queue]

    async def pump(self, link: LiveLink) -> None:
        """Send queued items to ``link`` in order until the connection ends or is being handed over.

        Each item leaves the queue as it is sent; one whose send fails or is cancelled goes back
        to the front, so it goes first on the next connection (at least once, never reordered).
        Muted audio and text are dropped at this last moment too.
        """
        self._sending = True
        while self._sending:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            item = self._queue.popleft()
            kind, payload = item
            try:
                if kind in ("audio", "text") and self.muted:
                    continue  # the privacy gate, checked at the last moment
                if kind == "audio":
                    assert isinstance(payload, tuple)
                    chunk, captured_at = payload
                    await link.send_audio(chunk)
                    if captured_at is not None and self._on_audio_sent is not None:
                        self._on_audio_sent(captured_at)
                elif kind == "signal":
                    assert isinstance(payload, str)
                    await link.send_signal(payload)
                elif kind == "text":
                    assert isinstance(payload, str)
                    await link.send_text(payload)
                else:
                    await link.send_tool_results(payload)  # type: ignore[arg-type]
            except BaseException:
                # Not known to have arrived: it goes first on the next connection (at least once).
                if not (kind in ("audio", "text") and self.muted):
                    self._queue.appendleft(item)
                raise

    async def _watch(self) -> _Outcome:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if not self._wanted.is_set():
                return _Outcome.IDLE
            if self._reconnect_reason:
                _LOGGER.warning("reconnecting: %s", self._reconnect_reason)
                return _Outcome.RECONNECT
            plan = self._goaway
            if plan is not None and plan.should_rotate(
                time.monotonic(), busy=self._busy(), resumable=self.resumption.resumable
            ):
                return _Outcome.ROTATE
