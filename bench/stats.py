"""Percentiles and medians of timings, and the one clock every measurement uses."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

clock = time.perf_counter


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of `values`, which must not be empty."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.inf
