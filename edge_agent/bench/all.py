"""``edge-agent bench all``: every benchmark in turn, and one JSON file with the machine they ran on.

:func:`run_all` runs :data:`BENCHMARKS` in order (session, gpio, audio, daemon: about three
minutes with their defaults) and, given ``out``, writes::

    {"machine": {"cpu": …, "cores": …, "python": …, "kernel": …, …},
     "benchmarks": {"session": {…figures…}, "gpio": {…}, "audio": {…}, "daemon": {…}}}

:func:`command` is what ``edge-agent bench NAME [--json] [--out FILE]`` does.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge_agent import __version__

Benchmark = Callable[..., dict[str, Any]]
"""A benchmark's ``run(**params)``: returns flat figures (units in the key names)."""


def _session(**params: Any) -> dict[str, Any]:
    from edge_agent.bench import session

    return session.run(**params)


def _gpio(**params: Any) -> dict[str, Any]:
    from edge_agent.bench import gpio

    return gpio.run(**params)


def _audio(**params: Any) -> dict[str, Any]:
    from edge_agent.bench import audio

    return audio.run(**params)


def _daemon(**params: Any) -> dict[str, Any]:
    from edge_agent.bench import daemon

    return daemon.run(**params)


BENCHMARKS: dict[str, Benchmark] = {"session": _session, "gpio": _gpio, "audio": _audio, "daemon": _daemon}
"""Every benchmark by name, in the order ``bench all`` runs them (modules import on first use)."""


def cpu_model(cpuinfo: str) -> str:
    """The CPU's name from the text of ``/proc/cpuinfo`` (x86 ``model name``, Arm ``Model`` / ``Hardware``)."""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            found.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        if key in found:
            return found[key]
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, Python, kernel, edge-agent version."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = cpu_model(f.read())
    except OSError:
        cpu = cpu_model("")
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "edge_agent": __version__,
    }


def results_document(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"machine": …, "benchmarks": …}``, with NaN (a figure without samples) as null: strict JSON."""

    def strict(figures: Mapping[str, Any]) -> dict[str, Any]:
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}

    return {"machine": machine(), "benchmarks": {name: strict(figures) for name, figures in results.items()}}


def write_results(out: Path, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Write :func:`results_document` to ``out`` (creating its directory). Blocking."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results_document(results), indent=2) + "\n", encoding="utf-8")


def run_all(
    out: Path | None = None,
    *,
    benchmarks: Mapping[str, Benchmark] | None = None,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every benchmark with its defaults, in order; return the figures by name; given ``out``, write them.

    ``on_result(name, figures)`` is called as each one finishes (to print its table);
    ``benchmarks`` replaces :data:`BENCHMARKS` (the tests pass quick ones). Blocking.
    """
    results: dict[str, dict[str, Any]] = {}
    for name, bench in (BENCHMARKS if benchmarks is None else benchmarks).items():
        results[name] = bench()
        if on_result is not None:
            on_result(name, results[name])
    if out is not None:
        write_results(out, results)
    return results


def command(
    name: str,
    *,
    as_json: bool = False,
    out: Path | None = None,
    echo: Callable[[str], None] = print,
    **params: Any,
) -> dict[str, dict[str, Any]]:
    """``edge-agent bench NAME [--json] [--out FILE]``: run, ``echo`` the figures, write ``out``.

    ``name`` is a key of :data:`BENCHMARKS` or ``"all"``; ``params`` go to that benchmark's
    ``run`` (none for ``all``). Tables are echoed as each benchmark finishes; with ``as_json``
    one JSON document is echoed at the end (for ``all``, the same document as the file).
    """
    from edge_agent.bench import render

    if name == "all":
        if params:
            raise ValueError(f"bench all runs every benchmark with its defaults; got {sorted(params)}")
        show = None if as_json else (lambda n, figures: echo(render(n, figures, as_json=False)))
        results = run_all(out, on_result=show)
        if as_json:
            echo(json.dumps(results_document(results), indent=2))
        return results
    if name not in BENCHMARKS:
        raise ValueError(f"no benchmark {name!r}; expected one of {', '.join([*BENCHMARKS, 'all'])}")
    results = {name: BENCHMARKS[name](**params)}
    echo(render(name, results[name], as_json=as_json))
    if out is not None:
        write_results(out, results)
    return results
