"""Which devices the token server (:mod:`edge_agent.live.token_server`) serves, and how often.

:class:`DeviceSecrets` holds the allowed device secrets, from a file with one secret per line
(at least :data:`MIN_SECRET_LENGTH` characters, no spaces or ``#``); ``#`` starts a comment.
It is re-read when it changes; a broken edit keeps the old set. Only SHA-256 digests are kept
and compared (constant time). :func:`fingerprint` names a secret in logs without revealing it.
:class:`RateLimiter` caps the events (tokens minted) per key (device) in a time window.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from edge_agent.errors import ConfigError

__all__ = ["MIN_SECRET_LENGTH", "DeviceSecrets", "RateLimiter", "fingerprint"]

_LOGGER = logging.getLogger("edge_agent.live.token_server")  # logs as part of the server it guards

MIN_SECRET_LENGTH = 16


def fingerprint(secret: str) -> str:
    """Return ``sha256:`` + 12 hex digits (``printf %s SECRET | sha256sum | cut -c1-12``): safe to log."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


class DeviceSecrets:
    """The allowed device secrets (their SHA-256 digests), from a file re-read when it changes.

    Thread: any (one lock). Raises ConfigError if the file is unreadable, empty or has a bad line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._digests: tuple[bytes, ...] = ()
        self._reload(initial=True)

    def match(self, secret: str) -> str | None:
        """Return the secret's :func:`fingerprint` if allowed, else None; constant time. Blocks on a stat."""
        self._reload(initial=False)
        candidate = hashlib.sha256(secret.encode()).digest()
        found = False
        for digest in self._digests:
            found |= hmac.compare_digest(candidate, digest)
        return fingerprint(secret) if found else None

    def __len__(self) -> int:
        return len(self._digests)

    def _reload(self, *, initial: bool) -> None:
        with self._lock:
            try:
                st = os.stat(self.path)
                if (stamp := (st.st_mtime_ns, st.st_size, st.st_ino)) == self._stamp:
                    return
                digests = _parse_secrets(self.path.read_text(encoding="utf-8-sig"))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                if initial:
                    raise ConfigError(str(self.path), "--device-secrets", _SECRETS_EXPECTED, str(e)) from e
                _LOGGER.error("device secrets %s not reloaded (keeping %d): %s", self.path, len(self._digests), e)
                return
            if not initial:
                _LOGGER.info("device secrets reloaded from %s: %d", self.path, len(digests))
            self._stamp, self._digests = stamp, digests


_SECRETS_EXPECTED = f"one device secret per line ({MIN_SECRET_LENGTH}+ characters, no spaces or '#'), '#' comments"


def _parse_secrets(text: str) -> tuple[bytes, ...]:
    digests = []
    for number, line in enumerate(text.splitlines(), start=1):
        secret = line.partition("#")[0].strip()
        if not secret:
            continue
        if len(secret) < MIN_SECRET_LENGTH or any(c.isspace() for c in secret):
            raise ValueError(f"line {number}: not a usable secret (length {len(secret)})")
        digests.append(hashlib.sha256(secret.encode()).digest())
    if not digests:
        raise ValueError("no device secrets")
    return tuple(digests)


class RateLimiter:
    """At most ``limit`` events per key in any ``window_s`` seconds. Thread: any (one lock)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self._limit, self._window, self._clock = limit, window_s, clock
        self._lock = threading.Lock()
        self._events: dict[str, deque[float]] = {}

    def wait_s(self, key: str) -> float:
        """Return 0.0 and count the event if ``key`` may act now, else the seconds until it may."""
        with self._lock:
            now = self._clock()
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self._window:
                events.popleft()
            if len(events) >= self._limit:
                return max(events[0] + self._window - now, 0.001)
            events.append(now)
            return 0.0
