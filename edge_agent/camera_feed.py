"""Camera frames to the model: at most ``max_fps`` stills, only while allowed, never while muted.

Runs as one task beside the daemon. The camera opens lazily and a failing one is closed,
reported and retried with backoff; the conversation goes on without it. Capture and JPEG
encoding run in a worker thread, so the event loop never waits on the camera.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from edge_agent.errors import HardwareError
from edge_agent.hardware.camera import Camera, open_camera
from edge_agent.live.connection import ConnectionManager
from edge_agent.live.retry import Backoff
from edge_agent.settings import CameraSettings

_LOGGER = logging.getLogger(__name__)


class CameraFeed:
    """Sends stills through ``connection`` while ``allowed()`` is True. Thread: event loop."""

    def __init__(self, settings: CameraSettings, connection: ConnectionManager, allowed: Callable[[], bool]) -> None:
        self.settings = settings
        self.connection = connection
        self.allowed = allowed
        self.frames_sent = 0
        self._requested = False

    def request_frame(self) -> bool:
        """Send one fresh frame as soon as possible, whatever the policy (the model called look).

        Returns at once; False when no frame can go out (muted, or not connected). Thread: event loop.
        """
        if self.connection.muted or self.connection.link is None:
            return False
        self._requested = True
        return True

    async def run(self) -> None:
        """Forever; cancel to stop (the camera is closed)."""
        interval = 1.0 / self.settings.max_fps
        camera: Camera | None = None
        retry = Backoff(5.0, 300.0)
        last_sent = -interval
        try:
            while True:
                requested = self._requested and not self.connection.muted
                if self.connection.link is None or not (requested or self.allowed()):
                    await asyncio.sleep(0.05)
                    continue
                started = time.monotonic()
                if (wait := last_sent + interval - started) > 0:  # never faster than max_fps
                    await asyncio.sleep(min(wait, 0.05))
                    continue
                self._requested = False
                try:
                    if camera is None:
                        camera = await asyncio.to_thread(open_camera, self.settings.backend, self.settings.long_edge_px)
                    jpeg = await asyncio.to_thread(camera.capture_jpeg)
                except Exception as e:  # noqa: BLE001 - a camera must never take the daemon down
                    delay = retry.next()
                    if not isinstance(e, HardwareError):
                        _LOGGER.exception("camera failed unexpectedly")
                    _LOGGER.warning("%s; retrying in %.0f s (the conversation goes on without it)", e, delay)
                    if camera is not None:
                        camera.close()
                        camera = None
                    await asyncio.sleep(delay)
                    continue
                if (requested or self.allowed()) and not self.connection.muted:  # re-check after the capture
                    last_sent = started
                    if await self.connection.send_video(jpeg):
                        self.frames_sent += 1
        finally:
            if camera is not None:
                camera.close()
