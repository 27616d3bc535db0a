"""The ``edge-agent`` command: run · check-config · demo · fake-server.

Exit codes: 0 success, 1 failure (systemd restarts), 78 configuration error
(systemd does not restart: ``RestartPreventExitStatus=78``), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_agent import __version__, cli_tools
from edge_agent.errors import EX_CONFIG, EX_OK, EX_USAGE, ConfigError, EdgeAgentError, exit_code_for
from edge_agent.logging_setup import setup_logging
from edge_agent.settings import ApiKey, Settings, config_path, load_api_key, load_settings, render_settings

_LOGGER = logging.getLogger("edge_agent.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="Headless Raspberry Pi smart speaker daemon for the Gemini Live API.",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    config_help = "config file (default: $EDGE_AGENT_CONFIG or /etc/edge-agent/edge-agent.toml)"
    run = sub.add_parser("run", help="run the daemon in the foreground until SIGTERM/SIGINT")
    run.add_argument("--config", metavar="PATH", help=config_help)
    check = sub.add_parser("check-config", help="validate the config and print the effective settings (key redacted)")
    check.add_argument("--config", metavar="PATH", help=config_help)
    demo = sub.add_parser(
        "demo", help="a scripted conversation against the built-in fake Live server on simulated hardware"
    )
    demo.add_argument("--out", metavar="DIR", help="where to write the reply WAV and GPIO log")
    fake = sub.add_parser("fake-server", help="serve the in-package fake Live API on loopback (TLS) for testing")
    fake.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free port)")
    fake.add_argument("--script", default="echo", help="built-in script name (echo, demo) or a JSON script file")
    fake.add_argument("--api-key", default="fake-api-key", help="the key clients must present")
    fake.add_argument("--ca-out", metavar="PATH", help="write the server's CA certificate (PEM) here")
    fake.add_argument("--record", metavar="PATH", help="on exit, write every client message here (JSON lines)")
    ctl = sub.add_parser("ctl", help="talk to the running daemon over its control socket")
    ctl.add_argument("action", choices=["status", "wake", "mute", "unmute", "say", "outputs"])
    ctl.add_argument("text", nargs="?", help="for say: what to tell the model")
    devices = sub.add_parser(
        "devices",
        help="list ALSA sound cards and PCMs, what each can do, and which ones the config uses",
        description="List the ALSA sound cards and the capture/playback PCM names (like `arecord -L` / `aplay -L`). "
        "Each PCM is opened briefly (non-blocking) to show its rates, channels, formats and whether S16_LE mono "
        "at 16 and 48 kHz is granted as asked; busy or broken devices are listed with their error. "
        "* marks audio.capture_device / audio.playback_device of the config.",
    )
    devices.add_argument("--config", metavar="PATH", help=config_help)
    devices.add_argument("--json", action="store_true", help="print the listing as JSON (keys: see cli_devices.py)")
    devices.add_argument("--timeout", type=float, default=2.0, metavar="S", help="per-PCM probe limit (default 2)")
    doctor = sub.add_parser("doctor", help="check config, key, audio, echo path, camera, GPIO, network and clock")
    doctor.add_argument("--config", metavar="PATH", help=config_help)
    doctor.add_argument("--offline", action="store_true", help="skip the network check")
    bench = sub.add_parser("bench", help="run a benchmark and print its figures (a table, or --json)")
    bench.add_argument(
        "name",
        choices=["session", "gpio", "audio", "daemon", "all"],
        help="session: handovers, drops, tool calls; gpio: tool call→pin, button, camera; audio: latency, flush, "
        "echo cancellation, CPU/RSS with AEC on and off beside two baselines, on clocked virtual sound cards "
        "(needs pulseaudio); daemon: startup, RSS/CPU per phase, shutdown; all: every one",
    )
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--out", type=Path, metavar="FILE", help="also write the figures and the machine as JSON")
    bench.add_argument("--rotations", type=int, default=6, help="session: goAways to hand over (default 6 = 1 h)")
    bench.add_argument("--drops", type=int, default=3, help="session: connection drops (default 3)")
    bench.add_argument("--seconds", type=float, default=60.0, help="audio: length of each run (default 60)")
    tokens = sub.add_parser("token-server", help="mint ephemeral tokens for devices (runs on the owner's server)")
    tokens.add_argument("--config", metavar="PATH", help=config_help)
    tokens.add_argument("--listen", default="0.0.0.0:8443", metavar="HOST:PORT", help="default 0.0.0.0:8443")
    tokens.add_argument("--cert", type=Path, required=True, metavar="PEM", help="TLS certificate chain")
    tokens.add_argument("--key", type=Path, required=True, metavar="PEM", help="TLS private key")
    tokens.add_argument("--device-secrets", type=Path, required=True, metavar="FILE", help="one device secret a line")
    tokens.add_argument("--rate", type=int, default=30, metavar="N", help="tokens a minute per device (default 30)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edge-agent`` command; returns the process exit code."""
    args = _parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    try:
        if args.command == "run":
            return _run(args.config)
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "demo":
            from edge_agent.demo import run_demo

            return run_demo(args.out)
        if args.command == "fake-server":
            return cli_tools.fake_server(args)
        if args.command == "ctl":
            if (args.action == "say") != bool(args.text):
                print("edge-agent ctl: say takes the TEXT to send; the other actions take none", file=sys.stderr)
                return EX_USAGE
            return cli_tools.ctl(args.action, args.text)
        if args.command == "devices":
            from edge_agent.cli_devices import command as devices_command

            return devices_command(args.config, as_json=args.json, timeout_s=args.timeout)
        if args.command == "doctor":
            from edge_agent.doctor import main as doctor_main

            if not args.verbose:  # the table is the output; device chatter would interleave with it
                logging.getLogger("edge_agent").setLevel(logging.WARNING)
            return doctor_main(args.config, args.offline)
        if args.command == "bench":
            from edge_agent.bench.all import command

            params: dict[str, Any] = {}
            if args.name == "session":
                params = {"rotations": args.rotations, "drops": args.drops}
            elif args.name == "audio":
                params = {"seconds": args.seconds}
            command(args.name, as_json=args.json, out=args.out, **params)
            return EX_OK
        if args.command == "token-server":
            return cli_tools.token_server(load_settings(config_path(args.config, os.environ)), args)
    except ConfigError as e:
        print(f"edge-agent: configuration error: {e}", file=sys.stderr)
        return EX_CONFIG
    except EdgeAgentError as e:
        _LOGGER.error("%s", e)
        return exit_code_for(e)
    except KeyboardInterrupt:
        return 130
    raise AssertionError(args.command)  # pragma: no cover - argparse enforces the choices


def _load(config: str | None) -> tuple[Settings, ApiKey | None]:
    settings = load_settings(config_path(config, os.environ))
    return settings, load_api_key(settings, os.environ)


def _check_config(config: str | None) -> int:
    settings, api_key = _load(config)
    print(render_settings(settings, api_key), end="")
    return EX_OK


def _run(config: str | None) -> int:
    from edge_agent.credentials import credential_for
    from edge_agent.daemon import Daemon

    settings = load_settings(config_path(config, os.environ))
    credential = credential_for(settings)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        daemon = Daemon(settings, credential)
        await daemon.run(stop)

    _LOGGER.info("edge-agent %s starting (config %s)", __version__, settings.source)
    asyncio.run(serve())
    return EX_OK
