"""Benchmarks: ``edge-agent bench NAME`` prints a table, ``--json`` the same figures as JSON.

Benchmarks measure; tests assert. Each benchmark returns a flat dict of figures (floats,
ints, strings) with units in the key names (``_ms``, ``_s``, ``_mb``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np


def percentiles(values: list[float], *qs: int) -> dict[str, float]:
    """``{"p50": …, "p99": …}`` of ``values`` (NaN when empty), rounded to 0.1."""
    if not values:
        return {f"p{q}": float("nan") for q in qs}
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in qs}


def render(name: str, figures: Mapping[str, Any], *, as_json: bool) -> str:
    """The figures as JSON, or as a two-column table headed by ``name``."""
    if as_json:
        return json.dumps({"benchmark": name, **figures}, indent=2)
    width = max(len(k) for k in figures)
    lines = [f"{name}", "-" * (width + 16)]
    lines += [f"{key:<{width}}  {value}" for key, value in figures.items()]
    return "\n".join(lines)
