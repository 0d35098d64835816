"""Collapsed training runs: a run that fell to chance, or far below its seed's other runs.

A collapse is a failed run, nothing more: it fails the per-seed rule like any low Δ, and a collapsed probe fails
its seed for every variant (the probe gate). It is named so a reader sees *why* a seed failed, and each adapter's
collapse rate is given with an exact (Clopper–Pearson) 95% interval, so a rare failure mode of the recipe is
visible apart from a genuine loss of accuracy.

The rule, on one eval set of n examples whose majority label has share c (chance: what always answering the
majority label scores):
- at chance: |accuracy − c| ≤ 3·√(c(1 − c)/n), within three binomial standard errors of chance (6.7 points at
  n = 500, c = 0.53): a model that learned nothing scores about c answering the majority label, about 0.5 answering
  at random (an eval set with one label has no chance band: it has nothing to tell apart);
- far below its seed: accuracy more than FAR_BELOW (15 points, six times the spec's 2.5-point tolerance) under the
  median of the seed's other runs (its probe and other variants, trained on the same data and seed). Retrained
  runs of one seed differ by about a point (measured on SST-2), so 15 points is no ordinary spread.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from rankcert.certification.words import CollapseKind

CHANCE_SE = 3.0  # binomial standard errors above chance that still count as chance
FAR_BELOW = 0.15  # accuracy below the median of the seed's other runs that counts as a collapse
INTERVAL = 0.95


@dataclass(frozen=True)
class Collapse:
    seed: int
    adapter: str  # "probe" or a variant's name
    accuracy: float
    chance: float  # the eval set's majority share
    reference: float | None  # the median accuracy of the seed's other runs (None: no other run)
    why: CollapseKind

    def line(self) -> str:
        if self.why == CollapseKind.AT_CHANCE:
            return (f"{self.adapter} seed {self.seed}: {self.accuracy:.1%}, chance is {self.chance:.1%}: collapsed")
        return (f"{self.adapter} seed {self.seed}: {self.accuracy:.1%}, {self.reference - self.accuracy:.1%} below "
                f"its seed's other runs ({self.reference:.1%}): collapsed")


@dataclass(frozen=True)
class CollapseRate:
    collapsed: int
    runs: int
    low: float  # exact 95% interval of the rate
    high: float

    def line(self, adapter: str) -> str:
        return (f"{adapter}: {self.collapsed} of {self.runs} runs collapsed "
                f"({self.collapsed / self.runs:.1%}, 95% interval {self.low:.1%} to {self.high:.1%})")


def chance(labels) -> float:
    """The share of the eval set's most common label: what a model that learned nothing scores by answering it."""
    counts: dict = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return max(counts.values()) / sum(counts.values())


def at_chance(accuracy: float, chance_share: float, examples: int) -> bool:
    return abs(accuracy - chance_share) <= CHANCE_SE * math.sqrt(chance_share * (1 - chance_share) / examples) + 1e-12


def find(accuracies: dict[int, dict[str, float | None]], chance_share: float, examples: int) -> list[Collapse]:
    """Every collapsed run, from seed -> adapter -> accuracy (None: not measured), in seed then adapter order."""
    found = []
    for seed, runs in accuracies.items():
        for adapter, accuracy in runs.items():
            if accuracy is None:
                continue
            others = [a for name, a in runs.items() if name != adapter and a is not None]
            reference = statistics.median(others) if others else None
            if at_chance(accuracy, chance_share, examples):
                found.append(Collapse(seed, adapter, accuracy, chance_share, reference, CollapseKind.AT_CHANCE))
            elif reference is not None and accuracy < reference - FAR_BELOW - 1e-12:
                found.append(Collapse(seed, adapter, accuracy, chance_share, reference, CollapseKind.FAR_BELOW_SEED))
    return found


def rate(collapsed: int, runs: int) -> CollapseRate:
    """The collapse rate with its exact two-sided Clopper–Pearson interval: each end is the rate at which the count
    seen is just in the binomial's 2.5% tail."""
    if runs < 1:
        raise ValueError("a collapse rate needs at least one run")
    tail = (1 - INTERVAL) / 2
    low = 0.0 if collapsed == 0 else _root(lambda p: _at_least(collapsed, runs, p) - tail)
    high = 1.0 if collapsed == runs else _root(lambda p: tail - _at_most(collapsed, runs, p))
    return CollapseRate(collapsed, runs, low, high)


def _at_least(k: int, n: int, p: float) -> float:
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def _at_most(k: int, n: int, p: float) -> float:
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _root(rising) -> float:
    """Where a function rising in p on [0, 1] crosses zero (bisection to 2⁻⁵⁰)."""
    low, high = 0.0, 1.0
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (low, mid) if rising(mid) >= 0 else (mid, high)
    return (low + high) / 2


def rates(found: list[Collapse], adapters: list[str], runs: dict[str, int]) -> dict[str, CollapseRate]:
    """adapter -> its collapse rate over its measured runs (`runs`: adapter -> runs measured)."""
    return {a: rate(sum(c.adapter == a for c in found), runs[a]) for a in adapters if runs.get(a)}


def survey(accuracies: dict[int, dict[str, float | None]], labels) -> tuple[list[Collapse], dict[str, CollapseRate]]:
    """Every collapsed run and each adapter's collapse rate over its measured runs, from seed -> adapter ->
    accuracy (None: not measured) and the eval set's labels (its chance)."""
    found = find(accuracies, chance(labels), len(labels))
    adapters = list(dict.fromkeys(a for runs in accuracies.values() for a in runs))
    measured = {a: sum(runs.get(a) is not None for runs in accuracies.values()) for a in adapters}
    return found, rates(found, adapters, measured)
