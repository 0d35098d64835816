"""The rank arithmetic of a plan: how many singular values hold a share of a spectrum's energy, and the allowed
rank at or above a count. Plain floats, nothing heavy: params and variant kinds import it."""
from __future__ import annotations

import math

from rankcert.runtime.errors import RankcertError

# A float sum of squares can land a hair under the threshold it mathematically reaches.
ENERGY_EPS = 1e-12


def energy_rank(singular_values: list[float], threshold: float) -> int:
    """Smallest k whose top-k singular values hold at least `threshold` of Σσ² (0 for a zero update)."""
    energies = [s * s for s in sorted(singular_values, reverse=True)]
    total = math.fsum(energies)
    if total == 0.0:
        return 0
    running = 0.0
    for k, e in enumerate(energies, start=1):
        running += e
        if running / total >= threshold - ENERGY_EPS:
            return k
    return len(energies)


def round_up_rank(k: int, allowed: list[int], cap: int) -> int:
    """The smallest allowed rank ≥ k, never above `cap` (the probe rank)."""
    candidates = [r for r in allowed if r <= cap]
    if not candidates:
        raise RankcertError(f"no allowed rank is ≤ the probe rank {cap}")
    for r in candidates:
        if r >= k:
            return r
    return candidates[-1]
