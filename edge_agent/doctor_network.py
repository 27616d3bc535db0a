"""The doctor's network check: DNS, TLS handshake, then one real Live session set up and closed at once."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from urllib.parse import urlsplit

from edge_agent.doctor_checks import KEY_HINT
from edge_agent.doctor_types import CheckResult, DoctorContext, Status
from edge_agent.errors import ConfigError
from edge_agent.settings import Settings, load_api_key

__all__ = ["check_network"]

DEFAULT_HOST = "generativelanguage.googleapis.com"
"""The Live endpoint's host when ``live.base_url`` is empty."""

# --- 8. Network -------------------------------------------------------------------------------------------

DNS_HINT = "check the network connection and DNS (`resolvectl status`, /etc/resolv.conf) and live.base_url"
CLOSE_HINT = "the Live endpoint ended the session: check live.base_url and live.model, then try again later"
CERT_HINT = "check the clock (`timedatectl`), live.ca_file, and any TLS-intercepting proxy"


def check_network(settings: Settings, ctx: DoctorContext) -> CheckResult:
    """DNS, TLS handshake, then one real Live connection with the configured credential, closed at once.

    The endpoint is ``live.base_url`` or Google's; the setup is the daemon's (model, voice, turn detection)
    without the tool declarations. The connection counts as accepted on ``setupComplete``;
    a close is explained with :func:`edge_agent.live.retry.classify` (its ``why`` and ``hint``). Each step
    is bounded by ``ctx.network_timeout_s``. Runs its own event loop: call it from a worker thread.
    """
    return asyncio.run(_network(settings, ctx))


async def _network(settings: Settings, ctx: DoctorContext) -> CheckResult:
    from edge_agent.credentials import token_credential
    from edge_agent.live.retry import classify
    from edge_agent.live.session import LinkClosed, LiveClient

    name = "network"
    live = settings.live
    url = urlsplit(live.base_url or f"https://{DEFAULT_HOST}")
    host, tls = url.hostname or DEFAULT_HOST, url.scheme == "https"
    port = url.port or (443 if tls else 80)
    limit = ctx.network_timeout_s
    try:
        async with asyncio.timeout(limit):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as e:
        return CheckResult(name, Status.FAIL, f"DNS: cannot resolve {host}: {_why(e, limit)}", DNS_HINT)
    steps = [f"{host} → {infos[0][4][0]}"]
    context = ctx.ssl_context
    if context is None:
        context = ssl.create_default_context()
        if live.ca_file is not None:
            context.load_verify_locations(cafile=str(live.ca_file))
    if tls:
        try:
            async with asyncio.timeout(limit):
                _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
                version = writer.get_extra_info("ssl_object").version()
                writer.close()
                await writer.wait_closed()
        except ssl.SSLCertVerificationError as e:
            return CheckResult(
                name, Status.FAIL, f"TLS: {host}'s certificate is not trusted: {e.verify_message}", CERT_HINT
            )
        except (OSError, TimeoutError) as e:  # ssl.SSLError is an OSError
            hint = f"check that this machine may connect to {host}:{port} (firewall, proxy) and live.base_url"
            return CheckResult(name, Status.FAIL, f"TLS: {host}:{port}: {_why(e, limit)}", hint)
        steps.append(f"{version} to port {port}")
    else:
        steps.append(f"no TLS ({url.scheme}://)")
    try:
        if live.auth == "ephemeral":
            async with asyncio.timeout(limit):
                credential = await token_credential(settings)()
        elif (key := load_api_key(settings, ctx.environ)) is not None:
            credential = key.reveal()
        else:
            return CheckResult(name, Status.FAIL, f"{'; '.join(steps)}; Live: not tried, no API key", KEY_HINT)
        client = LiveClient(live, settings.listening, [], ssl_context=ctx.ssl_context)
        started = time.monotonic()
        async with asyncio.timeout(limit), client.connect(credential):
            elapsed = time.monotonic() - started
    except TimeoutError:
        return CheckResult(
            name,
            Status.FAIL,
            f"{'; '.join(steps)}; Live: no setupComplete within {limit:g} s",
            "the endpoint answers TLS but not the Live API: check live.base_url and any proxy",
        )
    except LinkClosed as e:
        decision = classify(e.code, e.reason)
        closed = f"close {e.code}: {e.reason}" if e.code is not None else e.reason
        return CheckResult(
            name,
            Status.FAIL,
            f"{'; '.join(steps)}; Live: {decision.why} ({closed})",
            decision.hint or (DNS_HINT if e.code is None else CLOSE_HINT),
        )
    except ConfigError as e:
        return CheckResult(name, Status.FAIL, f"Live: not tried: {e}", "fix the setting named in the message")
    steps.append(f"Live session set up with {live.model} in {1000 * elapsed:.0f} ms (credential accepted)")
    return CheckResult(name, Status.PASS, "; ".join(steps))


def _why(error: BaseException, limit: float) -> str:
    return f"no answer within {limit:g} s" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
