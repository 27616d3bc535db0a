"""The status lights' drawing thread: a pattern drawn once when it changes, and redrawn while animated.

:class:`PatternDriver` is the base of every status driver (:mod:`edge_agent.hardware.lights`,
:mod:`edge_agent.hardware.apa102`): it holds the current :class:`~edge_agent.lights.LightPattern`
under a lock and owns one :class:`Animator` thread that calls the driver's ``_value_at`` and, when the
value changed, its ``_write``. So the event loop never waits on a light, ``show`` is thread-safe and
idempotent, and ``close`` stops the thread before the light goes dark.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge_agent.lights import OFF, LightPattern

_LOGGER = logging.getLogger(__name__)

FPS = 25.0
"""Redraws per second while a pattern is animated (a solid pattern is drawn once)."""


class Animator:
    """Calls ``draw(t)`` in its own thread: after every :meth:`changed`, then every 1/fps s while animated.

    ``t`` is the time in seconds since the last change. A ``draw`` that raises is logged once (until a
    draw succeeds again) and the thread goes on.
    """

    def __init__(self, draw: Callable[[float], None], *, name: str, fps: float = FPS) -> None:
        self._draw = draw
        self._interval = 1.0 / fps
        self._cond = threading.Condition()
        self._dirty = False
        self._animated = False
        self._stopped = False
        self._changed_at = time.monotonic()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def changed(self, animated: bool, *, restart: bool = True) -> None:
        """What to draw changed: draw it now, then keep redrawing if ``animated``. Thread-safe.

        ``restart``: ``t`` starts again from 0 (a new pattern); False keeps the running animation's time.
        """
        with self._cond:
            self._dirty = True
            self._animated = animated
            if restart:
                self._changed_at = time.monotonic()
            self._cond.notify()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most 2 s). Idempotent."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stopped or self._dirty or self._animated):
                    self._cond.wait()
                if not self._dirty and not self._stopped:  # animated: the next frame, unless a change comes first
                    self._cond.wait(self._interval)
                if self._stopped:
                    return
                self._dirty = False
                t = time.monotonic() - self._changed_at
            try:
                self._draw(t)
            except Exception:  # a broken light must never take the daemon down
                if not self._failing:
                    _LOGGER.exception("status light %s failed to draw", self._thread.name)
                self._failing = True
            else:
                self._failing = False


class PatternDriver:
    """Shared by the status drivers: the current pattern, its animator, the last value written.

    A subclass opens its device, then calls ``super().__init__`` (which starts the thread), and provides
    ``_value_at(pattern, t)`` (pure: what the device shows at ``t``), ``_write(value)`` (called in the
    animator thread, only when the value changed), ``_write_off()`` and ``_release()`` (both called once,
    by :meth:`close`, after the thread stopped).
    """

    def __init__(self, name: str, fps: float) -> None:
        self._lock = threading.Lock()
        self._pattern = OFF
        self._closed = False
        self._written: object = None
        self._animator = Animator(self._draw, name=name, fps=fps)

    def show(self, pattern: LightPattern) -> None:
        """Show ``pattern`` from now on. Thread-safe and idempotent (the same pattern again changes nothing).

        Never waits on the device beyond a frame already being written; drawing happens in the thread.
        """
        with self._lock:
            if self._closed or pattern == self._pattern:
                return
            self._pattern = pattern
            self._animator.changed(self._current().animated)

    def close(self) -> None:
        """Stop animating, go dark, release the device. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._animator.stop()
        try:
            self._write_off()
        finally:
            self._release()

    def _current(self) -> LightPattern:
        return self._pattern

    def _draw(self, t: float) -> None:
        with self._lock:
            if self._closed:
                return
            value = self._value_at(self._current(), t)
            if value != self._written:
                self._write(value)
                self._written = value

    def _value_at(self, pattern: LightPattern, t: float) -> Any:
        raise NotImplementedError

    def _write(self, value: Any) -> None:
        raise NotImplementedError

    def _write_off(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError
