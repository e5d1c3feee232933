"""Percentiles and rounding for the results file."""

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def r(value: float, digits: int = 1) -> float | None:
    """Rounded for the JSON file; None for a missing value (NaN)."""
    return None if math.isnan(value) else round(value, digits)


def summary_ms(
    seconds: Sequence[float], *, qs: Sequence[int] = (50, 99)
) -> dict[str, float | None]:
    """``{"p50": ms, "p99": ms, "max": ms}`` of durations given in seconds."""
    ms = [s * 1000 for s in seconds]
    out = {f"p{q}": r(percentile(ms, q)) for q in qs}
    out["max"] = r(max(ms)) if ms else None
    return out
