"""The helper commands: ``ctl`` (talk to a running daemon), ``token-server``, ``fake-server``.

Each returns a process exit code; configuration problems raise ConfigError (exit 78).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from edge_agent.errors import EX_FAILURE, EX_OK, ConfigError
from edge_agent.settings import OutputSettings, Settings


def ctl(command: str, text: str | None) -> int:
    """``edge-agent ctl COMMAND [TEXT]``: one request to the daemon's control socket."""
    from edge_agent.control import ControlError, format_status, request, socket_path

    path = socket_path(os.environ)
    try:
        response = request(path, command, text)
    except ControlError as e:
        print(f"edge-agent ctl: {e}")
        return EX_FAILURE
    if not response.get("ok"):
        print(f"edge-agent ctl {command}: {response.get('error', 'failed')}")
        return EX_FAILURE
    if command == "status":
        print(format_status(response))
    elif command == "outputs":
        for name, on in response.get("outputs", {}).items():
            print(f"{name}: {'on' if on else 'off'}")
    else:
        print("ok")
    return EX_OK


class _ConfiguredOutputs:
    """The configured outputs as the tool declarations see them, without touching any pin."""

    def __init__(self, outputs: tuple[OutputSettings, ...]) -> None:
        self._outputs = {o.name: o for o in outputs}

    def names(self) -> list[str]:
        return list(self._outputs)

    def settings(self, name: str) -> OutputSettings:
        return self._outputs[name]

    def state(self, name: str) -> bool:
        raise RuntimeError("the token server drives no outputs")

    def set(self, name: str, on: bool) -> bool:
        raise RuntimeError("the token server drives no outputs")

    def snapshot(self) -> dict[str, bool]:
        return {}


def token_server(settings: Settings, args: argparse.Namespace) -> int:
    """``edge-agent token-server``: mint ephemeral tokens locked to this config's model and setup."""
    from edge_agent.live.session import LiveClient
    from edge_agent.live.token_server import serve
    from edge_agent.settings import load_api_key
    from edge_agent.tools import ToolBox
    from edge_agent.tools_builtin import register_builtins

    api_key = load_api_key(settings, os.environ)
    if api_key is None:
        raise ConfigError(
            settings.source,
            "live.api_key_file",
            "the long-lived API key the token server mints with ($GEMINI_API_KEY or live.api_key_file)",
            "none found",
        )
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        raise ConfigError("--listen", "listen", "HOST:PORT", repr(args.listen))
    toolbox = ToolBox(_ConfiguredOutputs(settings.outputs))
    # Declare exactly what the daemon declares, or the locked setup would not match.
    camera = (lambda: False) if settings.camera.backend != "off" else None
    register_builtins(toolbox, settings, status=lambda: {}, request_frame=camera)
    tools = toolbox.specs
    config = LiveClient(settings.live, settings.listening, tools).config
    return serve(
        host=host or "0.0.0.0",
        port=int(port),
        certfile=args.cert,
        keyfile=args.key,
        device_secrets=args.device_secrets,
        api_key=api_key.reveal(),
        model=settings.live.model,
        config=config,
        base_url=settings.live.base_url or None,
        rate_per_minute=args.rate,
    )


def fake_server(args: argparse.Namespace) -> int:
    """``edge-agent fake-server``: the in-package fake Live API until SIGTERM/SIGINT."""
    from edge_agent.live.fake_script import load_script
    from edge_agent.live.fake_server import FakeLiveServer

    try:
        script = load_script(args.script)
    except (ValueError, OSError) as e:
        raise ConfigError("--script", "script", "a built-in script name or a JSON script file", str(e)) from e

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = FakeLiveServer(script, api_key=args.api_key, port=args.port)
        await server.start()
        try:
            if args.ca_out:
                server.write_ca(args.ca_out)
            print(f"fake Live server on {server.base_url} (api key {args.api_key!r})", flush=True)
            if args.ca_out:
                print(f"CA certificate: {args.ca_out}", flush=True)
            await stop.wait()
        finally:
            await server.close()
            if args.record:
                server.save_record(args.record)

    asyncio.run(serve())
    return EX_OK
