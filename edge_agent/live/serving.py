"""An ``http.server`` served from a background thread: the token server and the fake REST endpoint."""

from __future__ import annotations

import threading
from socketserver import BaseServer


class ServingThread:
    """Serves ``httpd`` in a daemon thread named ``name`` until :meth:`stop`.

    Thread: any. ``stop`` blocks up to one ``poll_interval`` and releases the port. Idempotent.
    """

    def __init__(self, httpd: BaseServer, *, name: str, poll_interval: float) -> None:
        self.httpd = httpd
        self._thread: threading.Thread | None = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and release the port; requests in flight finish in their own threads."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        thread.join()
