"""The daemon with ``live.auth = "ephemeral"``: a fresh token from the token server before each connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_agent.credentials import credential_for
from edge_agent.daemon import Daemon
from edge_agent.events import Phase
from edge_agent.live import fake_script as fs
from edge_agent.live.fake_server import FakeLiveServer
from edge_agent.settings import settings_from_mapping
from tests.conftest import base_config, wait_until
from tests.live.conftest import run
from tests.live.test_tokens import LONG_KEY, SECRET, Tls, secrets_file, tls, token_stack

__all__ = ["secrets_file", "tls"]  # fixtures used by name below

pytestmark = [
    pytest.mark.filterwarnings("ignore:The SDK's token creation implementation is experimental"),
    pytest.mark.filterwarnings("ignore:The SDK's ephemeral token support is experimental"),
]


def test_the_daemon_fetches_a_token_per_connection_and_never_holds_the_key(
    tmp_path: Path, tls: Tls, secrets_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    (tmp_path / "device-secret").write_text(SECRET + "\n")
    (tmp_path / "token-ca.pem").write_bytes(tls.client_ca_pem)
    with token_stack(tls, secrets_file) as (rest, token_server):

        async def scenario() -> FakeLiveServer:
            async with FakeLiveServer(fs.Script(steps=()), api_key=LONG_KEY, token_check=rest.use_token) as live:
                config = base_config(tmp_path, live.base_url)
                config["live"].update(
                    auth="ephemeral",
                    token_url=token_server.url,
                    device_secret_file=str(tmp_path / "device-secret"),
                    ca_file=str(tmp_path / "token-ca.pem"),
                )
                settings = settings_from_mapping(config, source="<test>")
                daemon = Daemon(
                    settings, credential_for(settings, {}), ssl_context=live.client_ssl_context(), environ={}
                )
                stop = asyncio.Event()
                task = asyncio.create_task(daemon.run(stop))
                try:
                    await wait_until(lambda: daemon.phase is Phase.LISTENING, 15, "the first connection")
                    await live.drop_connections()  # a reconnect needs a new token (uses = 1)
                    await wait_until(
                        lambda: len(live.connections) == 2 and daemon.phase is Phase.LISTENING, 15, "reconnected"
                    )
                finally:
                    stop.set()
                    await task
                return live

        live = run(scenario())

    assert [c.method for c in live.connections] == ["BidiGenerateContentConstrained"] * 2
    assert all(c.accepted for c in live.connections)
    tokens = [seen["authorization"] for seen in live.credentials]
    assert tokens[0] != tokens[1]  # one fresh token per connection
    assert all(LONG_KEY not in value for seen in live.credentials for value in seen.values())
    assert len(rest.minted) == 2
