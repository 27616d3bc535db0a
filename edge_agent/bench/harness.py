"""What the in-process benchmarks share: the real daemon on simulated hardware against the fake server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.credentials import api_key_credential
from edge_agent.daemon import Daemon
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.sd_notify import Notifier
from edge_agent.settings import settings_from_mapping


def in_process_daemon(server: FakeLiveServer, directory: Path, config: dict[str, Any]) -> Daemon:
    """A daemon for ``server`` with ``config`` over simulated-hardware defaults.

    State and the control socket live in ``directory``; systemd notifications go nowhere.
    Start it with ``await daemon.run(stop)``.
    """
    sections: dict[str, Any] = {
        "live": {"base_url": server.base_url},
        "hardware": {"backend": "simulated"},
        "daemon": {"state_dir": str(directory / "state")},
    }
    for name, values in config.items():
        sections[name] = {**sections[name], **values} if isinstance(values, dict) and name in sections else values
    settings = settings_from_mapping(sections, source="<bench>")
    return Daemon(
        settings,
        api_key_credential(server.api_key),
        ssl_context=server.client_ssl_context(),
        environ={},
        notifier=Notifier(lambda _message: False),
        control_socket=directory / "control.sock",
    )
