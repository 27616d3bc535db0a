"""Benchmark baseline (a): the bare cost of a google-genai Live client streaming silence.

Connects with the real SDK (``client.aio.live.connect``, through
:class:`edge_agent.live.session.LiveClient`, which builds the ``genai.Client`` with the same
base URL, CA file, API version and keepalive as the daemon), then sends 16 kHz silence in
40 ms chunks in real time (``send_realtime_input(audio=Blob(...))``) for ``--seconds`` and
ignores whatever comes back. No audio devices, no processing: its CPU and RSS are the floor that
``edge-agent bench audio`` compares the daemon's network side against::

    python -m edge_agent.live.baseline_client --base-url https://127.0.0.1:PORT --key KEY --ca-file ca.pem --seconds 20

Prints one JSON line (chunks sent, seconds) and exits 0; SIGTERM/SIGINT end it early, also
with 0. Exit 1 when the connection fails or ends early.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from edge_agent.live.session import LinkClosed, LiveClient, LiveLink
from edge_agent.settings import ListeningSettings, LiveSettings

CHUNK_MS = 40
RATE = 16000


async def _drain(link: LiveLink) -> None:
    """Read and drop everything the server sends (keeps the SDK's receive side as the daemon has it)."""
    async for _ in link.events():
        pass


async def stream_silence(client: LiveClient, api_key: str, seconds: float) -> dict[str, float | int]:
    """Connect, stream silence in real time for ``seconds`` (or until SIGTERM/SIGINT), close.

    Thread: the event loop. Chunk *k* is sent at ``start + k × 40 ms`` (absolute deadlines, no
    drift). Raises LinkClosed when the connection fails or ends early.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    chunk = bytes(RATE * CHUNK_MS // 1000 * 2)
    sent = 0
    async with client.connect(api_key) as link:
        reader = asyncio.create_task(_drain(link), name="baseline-drain")
        start = time.monotonic()
        try:
            while not stop.is_set() and (due := start + sent * CHUNK_MS / 1000) < start + seconds:
                if reader.done():
                    reader.result()  # raises LinkClosed: the server ended the connection
                    raise LinkClosed(None, "the server ended the stream")
                if (wait := due - time.monotonic()) > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), wait)
                        break
                    except TimeoutError:
                        pass
                await link.send_audio(chunk)
                sent += 1
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await link.close()
    return {"chunks": sent, "audio_s": round(sent * CHUNK_MS / 1000, 3), "seconds": round(time.monotonic() - start, 3)}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m edge_agent.live.baseline_client", description=__doc__)
    parser.add_argument("--base-url", default="", help='Live endpoint, e.g. the fake server ("" = Google\'s)')
    parser.add_argument("--key", required=True, help="API key")
    parser.add_argument("--ca-file", type=Path, default=None, help="extra CA (PEM) to trust, e.g. the fake server's")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to stream (default: %(default)s)")
    parser.add_argument("--api-version", default="v1beta", choices=("v1", "v1beta", "v1alpha"))
    args = parser.parse_args(argv)
    settings = LiveSettings(base_url=args.base_url, ca_file=args.ca_file, api_version=args.api_version)
    client = LiveClient(settings, ListeningSettings(), tools=())
    try:
        counts = asyncio.run(stream_silence(client, args.key, args.seconds))
    except LinkClosed as e:
        print(f"baseline_client: the Live connection failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
