"""``edge-agent doctor``: check the config, key, devices, pins, network and clock, and say what to fix.

:func:`main` is the CLI entry point (``edge-agent doctor [--config PATH] [--offline]``): it prints a table,
one row per check (PASS / WARN / FAIL / SKIP, a one-line detail, and for WARN/FAIL a hint saying exactly
what to do) and returns the exit code: 1 when any check FAILs, else 0. An invalid config file is not a
row: its :class:`~edge_agent.errors.ConfigError` propagates (the CLI exits 78). Problems found later with
files the config names (a key file, ``simulated.mic_wav`` …) are FAIL rows, so one run shows everything.

The checks, in order: config, API key, capture device, playback device, echo path, camera, GPIO pins,
network, clock. Each runs in its own daemon thread with a time budget (``DoctorContext.check_timeout_s``;
the network check gets three ``network_timeout_s`` steps): one that overruns FAILs and is abandoned, so
the doctor never hangs. This module is the runner and the table; the checks live in
:mod:`edge_agent.doctor_checks` (API key, camera, GPIO, clock), :mod:`edge_agent.doctor_audio` (capture,
playback, echo path) and :mod:`edge_agent.doctor_network`, their shared types in :mod:`edge_agent.doctor_types`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TextIO

from edge_agent.doctor_audio import check_capture, check_echo, check_playback
from edge_agent.doctor_checks import check_api_key, check_camera, check_clock, check_gpio
from edge_agent.doctor_network import check_network
from edge_agent.doctor_types import CheckResult, DoctorContext, Status
from edge_agent.errors import EX_FAILURE, EX_OK, ConfigError
from edge_agent.settings import Settings, config_path, load_settings

__all__ = [
    "CHECK_NAMES",
    "CheckResult",
    "DoctorContext",
    "Status",
    "check_api_key",
    "check_clock",
    "check_network",
    "exit_code",
    "format_result",
    "main",
    "run_checks",
]

_LOGGER = logging.getLogger(__name__)

# --- The runner ------------------------------------------------------------------------------------------

Check = Callable[[Settings, DoctorContext], CheckResult]

_CHECKS: tuple[tuple[str, Check], ...] = (
    ("API key", check_api_key),
    ("capture device", check_capture),
    ("playback device", check_playback),
    ("echo path", check_echo),
    ("camera", check_camera),
    ("GPIO pins", check_gpio),
    ("network", check_network),
    ("clock", check_clock),
)
CHECK_NAMES: tuple[str, ...] = ("config", *(name for name, _ in _CHECKS))
"""Every row of the table, in order."""
_WIDTH = max(len(name) for name in CHECK_NAMES) + 2


def run_checks(
    config: str | os.PathLike[str] | Settings | None,
    *,
    offline: bool = False,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    context: DoctorContext | None = None,
) -> list[CheckResult]:
    """Run every check in order and return one result per name in :data:`CHECK_NAMES`.

    ``config``: Settings as they are, or a config file (None = ``$EDGE_AGENT_CONFIG`` or the default path),
    loaded with ``load_settings``: its ConfigError propagates before anything is printed. ``environ``, when
    given, replaces ``context.environ``. ``offline`` SKIPs the network check; the echo path is SKIPped when
    capture or playback FAILed. ``out``: where the table goes, row by row as checks finish (None = nowhere).
    Blocks for as long as the checks take, each bounded by its budget: from async code call it through
    ``asyncio.to_thread`` (the network check runs its own event loop in a worker thread).
    """
    ctx = context or DoctorContext()
    if environ is not None:
        ctx = dataclasses.replace(ctx, environ=environ)
    if isinstance(config, Settings):
        settings = config
    else:
        settings = load_settings(config_path(os.fspath(config) if config is not None else None, ctx.environ))
    results = [_config_result(settings)]
    _write(out, f"edge-agent doctor: {settings.source}\n{'STATUS':<8}{'CHECK':<{_WIDTH}}DETAIL\n")
    _write(out, format_result(results[0]))
    for name, check in _CHECKS:
        failed = {r.name for r in results if r.status is Status.FAIL}
        if name == "network" and offline:
            result = CheckResult(name, Status.SKIP, "--offline")
        elif name == "echo path" and failed & {"capture device", "playback device"}:
            result = CheckResult(name, Status.SKIP, "needs a working capture and playback device (see above)")
        else:
            budget = 3 * ctx.network_timeout_s + 5 if name == "network" else ctx.check_timeout_s
            result = _bounded(name, check, settings, ctx, budget)
        results.append(result)
        _write(out, format_result(result))
    counts = ", ".join(f"{sum(r.status is s for r in results)} {s.value}" for s in Status)
    _write(out, f"{len(results)} checks: {counts}\n")
    return results


def _config_result(settings: Settings) -> CheckResult:
    button = f"button BCM {settings.button.pin}" if settings.button.pin is not None else "no button"
    return CheckResult(
        "config",
        Status.PASS,
        f"{settings.source}: hardware {settings.hardware.backend}, {len(settings.outputs)} output(s), {button}, "
        f"camera {settings.camera.backend}, auth {settings.live.auth}",
    )


def _bounded(name: str, check: Check, settings: Settings, ctx: DoctorContext, budget: float) -> CheckResult:
    """Run ``check`` in a daemon thread; a FAIL when it raises or is still running after ``budget`` s."""
    box: list[CheckResult] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(check(settings, ctx))
        except BaseException as e:  # reported as a FAIL row: the doctor itself must not fail
            _LOGGER.debug("doctor check %s raised", name, exc_info=True)
            errors.append(e)

    thread = threading.Thread(target=target, name=f"doctor {name}", daemon=True)
    thread.start()
    thread.join(budget)
    if thread.is_alive():
        return CheckResult(
            name,
            Status.FAIL,
            f"did not finish within {budget:g} s (a device or the network hangs)",
            "run `edge-agent -v doctor` to see where it stops",
        )
    if errors:
        error = errors[0]
        if isinstance(error, ConfigError):
            return CheckResult(name, Status.FAIL, str(error), f"fix {error.key} in {error.file}")
        return CheckResult(
            name,
            Status.FAIL,
            f"unexpected error: {type(error).__name__}: {error}",
            "run `edge-agent -v doctor` for the traceback and report it",
        )
    return box[0]


def format_result(result: CheckResult) -> str:
    """One table row (status, name, detail), plus an indented hint line when there is a hint; ends in a newline."""
    row = f"{result.status.value:<8}{result.name:<{_WIDTH}}{_one_line(result.detail)}\n"
    if result.hint:
        row += f"{'':<{8 + _WIDTH}}→ {_one_line(result.hint)}\n"
    return row


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _write(out: TextIO | None, text: str) -> None:
    if out is None:
        return
    try:
        out.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show "→" or "—" still gets the table
        encoding = out.encoding or "ascii"
        out.write(text.encode(encoding, "replace").decode(encoding))
    out.flush()


def exit_code(results: list[CheckResult]) -> int:
    """1 (EX_FAILURE) when any result is a FAIL, else 0: WARN and SKIP do not fail the doctor."""
    return EX_FAILURE if any(r.status is Status.FAIL for r in results) else EX_OK


def main(config: str | None, offline: bool) -> int:
    """Entry point of ``edge-agent doctor [--config PATH] [--offline]``: print the table, return the exit code.

    0 when no check FAILed, 1 otherwise. Raises ConfigError when the config file itself is invalid (the CLI
    prints it and exits 78). Uses the real environment, devices, network and clock.
    """
    return exit_code(run_checks(config, offline=offline, environ=os.environ, out=sys.stdout))
