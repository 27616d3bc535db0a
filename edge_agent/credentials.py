"""What the daemon connects with: the API key, or a fresh ephemeral token before every connection.

With ``live.auth = "ephemeral"`` the fleet's long-lived key never sits on the device: the
device proves itself to the owner's token server (``edge-agent token-server``) with its own
secret and gets a one-use token for the next connection.
"""

from __future__ import annotations

import os
import ssl
import warnings
from collections.abc import Awaitable, Callable, Mapping

from edge_agent.errors import ConfigError
from edge_agent.live.session import LinkClosed
from edge_agent.live.token_client import TokenError, fetch_token
from edge_agent.settings import Settings, load_api_key

Credential = Callable[[], Awaitable[str]]
"""Returns what to connect with; raises LinkClosed (classified like a close) when it cannot."""


def api_key_credential(key: str) -> Credential:
    """A credential source that always answers with the same API key."""

    async def credential() -> str:
        return key

    return credential


def _device_secret(settings: Settings) -> str:
    path = settings.live.device_secret_file
    expected = 'a readable file holding this device\'s secret (live.auth = "ephemeral")'
    if path is None:
        raise ConfigError(settings.source, "live.device_secret_file", expected, '""')
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(settings.source, "live.device_secret_file", expected, f"{str(path)!r}: {e}") from e
    if not secret:
        raise ConfigError(settings.source, "live.device_secret_file", expected, f"{str(path)!r} is empty")
    return secret


def token_credential(settings: Settings) -> Credential:
    """Fetch an ephemeral token from ``live.token_url`` before each connection.

    ``live.ca_file``, when set, is trusted for the token server as well as the Live endpoint.
    """
    live = settings.live
    if not live.token_url:
        raise ConfigError(settings.source, "live.token_url", 'an https:// URL when live.auth = "ephemeral"', '""')
    secret = _device_secret(settings)
    context: ssl.SSLContext | None = None
    if live.ca_file is not None:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(live.ca_file))
    # The SDK warns on every token connection that its support is experimental; once is enough.
    warnings.filterwarnings("ignore", message="The SDK's ephemeral token support is experimental")

    async def credential() -> str:
        try:
            return await fetch_token(live.token_url, secret, ssl_context=context)
        except TokenError as e:
            raise LinkClosed(None, str(e)) from e

    return credential


def credential_for(settings: Settings, environ: Mapping[str, str] | None = None) -> Credential:
    """The credential source the configuration asks for. Raises ConfigError (exit 78)."""
    if settings.live.auth == "ephemeral":
        return token_credential(settings)
    api_key = load_api_key(settings, os.environ if environ is None else environ)
    if api_key is None:
        raise ConfigError(
            settings.source,
            "live.api_key_file",
            "an API key: the systemd credential gemini-api-key, a file named by live.api_key_file, "
            'or $GEMINI_API_KEY (or live.auth = "ephemeral" with a token server)',
            "none of them is set",
        )
    return api_key_credential(api_key.reveal())
