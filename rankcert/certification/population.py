"""The population verdict: a claim about training runs on this eval set, not only about the runs that were made.

The claim, per variant: "with confidence γ, at least a share p of training runs (seeds), evaluated on this eval
set, have Δ ≥ −tolerance". A run passes when its Δ ≥ −tolerance (stats.passes); a seed with no Δ (a missing
prediction, or a probe that failed its gate) is a failed run. Given the eval set, runs are independent draws, so
the pass count among n seeds is binomial(n, π) whatever the Δs' distribution: the verdict reads only that count.

An exact group-sequential binomial test, read at pre-declared seed counts n_1 < … < n_J (`looks`): S_j passes
among the first n_j seeds; SAFE at the first look with S_j ≥ a_j, UNSAFE at the first look with S_j ≤ b_j,
UNSETTLED after the last. The boundaries come from a dynamic programme over the count's paths at π = p (no
simulation): a_j is the smallest count whose chance of a SAFE crossing by look j stays ≤ α(n_j / n_J), the error
α = 1 − γ spent along the looks by `spending`; b_j likewise for UNSAFE. Each side ignores the other's stopping
(non-binding), so reading on after a stop keeps the bound. A SAFE crossing is an increasing event of the pass
indicators, so its chance grows with π: ≤ α at π = p means ≤ α for every π < p (and an UNSAFE for every π > p).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import hypergeom

from rankcert.certification.stats import passes
from rankcert.certification.words import Safety
from rankcert.config.params import PopulationParams

SAFE, UNSAFE, UNSETTLED = Safety.SAFE, Safety.UNSAFE, Safety.UNSETTLED  # short names for the verdict words
LOWER_STEPS = 30  # bisection steps for the lower bound on the share: 2⁻³⁰, far below any figure shown

SPENDING = {  # (t = n_j / n_J, the share of the last look's seeds read; α) -> the error spent by then
    "linear": lambda t, alpha: alpha * t,
    "quadratic": lambda t, alpha: alpha * t * t,
    "pocock": lambda t, alpha: alpha * math.log(1 + (math.e - 1) * t),  # Lan–DeMets' Pocock-like function
    "obrien-fleming": lambda t, alpha: float(2 * (1 - ndtr(ndtri(1 - alpha / 2) / math.sqrt(t)))),  # Lan–DeMets'
}


def spent_by(spending: str, t: float, alpha: float) -> float:
    """The error spent by information fraction t (α at t = 1)."""
    return alpha if t >= 1 else SPENDING[spending](t, alpha)


def plan(looks: tuple[int, ...], seeds: int) -> tuple[int, ...]:
    """The looks a run of `seeds` seeds is read at: the declared looks before it, then the run itself in place
    of the first declared look it reaches (so a run between looks keeps the plan's number of looks)."""
    return tuple(k for k in looks if k < seeds) + (seeds,) + tuple(k for k in looks if k >= seeds)[1:]


@dataclass(frozen=True)
class Design:
    """The boundaries of one plan of looks: SAFE when passes ≥ safe[j] (n_j + 1: not at this look), UNSAFE when
    passes ≤ unsafe[j] (−1: not at this look); the exact chance at π = share of a false SAFE (UNSAFE) by look j."""

    looks: tuple[int, ...]
    safe: tuple[int, ...]
    unsafe: tuple[int, ...]
    spent_safe: tuple[float, ...]
    spent_unsafe: tuple[float, ...]


@functools.lru_cache(maxsize=4096)
def design(looks: tuple[int, ...], share: float, confidence: float, spending: str) -> Design:
    safe, spent_safe = _side(looks, share, _budget(looks, confidence, spending), upper=True)
    unsafe, spent_unsafe = _side(looks, share, _budget(looks, confidence, spending), upper=False)
    return Design(looks, safe, unsafe, spent_safe, spent_unsafe)


def _budget(looks: tuple[int, ...], confidence: float, spending: str) -> list[float]:
    return [spent_by(spending, k / looks[-1], 1 - confidence) for k in looks]


def _side(looks: tuple[int, ...], share: float, budget: list[float], upper: bool) -> tuple[tuple[int, ...],
                                                                                          tuple[float, ...]]:
    """One side's boundaries: at each look the most permissive count whose crossing chance so far (paths that
    crossed at an earlier look counted once) stays within the budget spent by then."""
    alive, before, crossed, bounds, spent = np.ones(1), 0, 0.0, [], []
    for k, allowed in zip(looks, budget):
        alive = np.convolve(alive, _pmf(k - before, share))
        tail = np.cumsum(alive[::-1])[::-1] if upper else np.cumsum(alive)  # P(S ≥ s) or P(S ≤ s), paths alive
        ok = np.flatnonzero(crossed + tail <= allowed)
        if upper:
            bound = int(ok[0]) if ok.size else k + 1
            crossed += float(alive[bound:].sum())
            alive[bound:] = 0.0
        else:
            bound = int(ok[-1]) if ok.size else -1
            crossed += float(alive[:bound + 1].sum())
            alive[:bound + 1] = 0.0
        bounds.append(bound)
        spent.append(crossed)
        before = k
    return tuple(bounds), tuple(spent)


def _pmf(n: int, q: float) -> np.ndarray:
    """Binomial(n, q) probabilities of 0..n."""
    k = np.arange(n + 1)
    return _choose(n) * q**k * (1 - q) ** (n - k)


@functools.lru_cache(maxsize=256)
def _choose(n: int) -> np.ndarray:
    return np.array([math.comb(n, k) for k in range(n + 1)], dtype=np.float64)


def operating(d: Design, pi: float) -> tuple[float, float, float]:
    """(P(SAFE), P(UNSAFE), expected seeds) of the procedure as it runs (it stops at the first crossing), exact
    for a true pass share pi."""
    alive, before, safe, unsafe, seeds = np.ones(1), 0, 0.0, 0.0, 0.0
    for k, a, b in zip(d.looks, d.safe, d.unsafe):
        alive = np.convolve(alive, _pmf(k - before, pi))
        up, down = float(alive[a:].sum()), float(alive[:b + 1].sum())
        safe, unsafe, seeds = safe + up, unsafe + down, seeds + k * (up + down)
        alive[a:], alive[:b + 1] = 0.0, 0.0
        before = k
    return safe, unsafe, seeds + d.looks[-1] * float(alive.sum())


@functools.lru_cache(maxsize=65536)
def order_shares(d: Design, failed: int) -> tuple[float, float]:
    """(share of all orderings SAFE, share UNSAFE) of one pool of d.looks[-1] seeds, `failed` of them failing,
    exactly: the count at each look is hypergeometric given the pool, so the verdict's law over orderings depends
    only on how many fail."""
    n = d.looks[-1]
    alive, before, safe, unsafe = np.zeros(n + 1), 0, 0.0, 0.0
    alive[0] = 1.0
    for k, a, b in zip(d.looks, d.safe, d.unsafe):
        new = np.zeros(n + 1)
        for s in np.flatnonzero(alive):
            x = np.arange(k - before + 1)
            new[s + x] += alive[s] * hypergeom.pmf(x, n - before, n - failed - s, k - before)
        safe, unsafe = safe + new[a:].sum(), unsafe + new[:b + 1].sum()
        new[a:], new[:b + 1] = 0, 0
        alive, before = new, k
    return float(safe), float(unsafe)


def lower_bound(d: Design, j: int, passed: int, confidence: float, spending: str) -> float:
    """The lower confidence bound on the pass share from `passed` passing seeds at look j (index) of design d, in
    the stagewise order: the largest π under which a result at least as far up (a SAFE crossing at an earlier look,
    or this look's count or more) has chance ≤ the error spent by this look. That chance is an increasing event's,
    so it grows with π (bisection finds the bound); at π = share it is ≤ the error spent exactly when the verdict
    is SAFE, so the bound reaches the share exactly then. Its coverage is checked exactly in the tests."""
    level = spent_by(spending, d.looks[j] / d.looks[-1], 1 - confidence)
    thresholds = d.safe[:j] + (passed,)

    def chance(pi: float) -> float:
        alive, before, crossed = np.ones(1), 0, 0.0
        for k, a in zip(d.looks, thresholds):
            alive = np.convolve(alive, _pmf(k - before, pi))
            crossed += float(alive[a:].sum())
            alive[a:] = 0.0
            before = k
        return crossed
    low, high = 0.0, 1.0
    if chance(low) > level:
        return 0.0
    for _ in range(LOWER_STEPS):
        mid = (low + high) / 2
        low, high = (mid, high) if chance(mid) <= level else (low, mid)
    return low


@dataclass(frozen=True)
class Look:
    seeds: int
    passed: int  # passing seeds among these
    safe_at: int  # SAFE at this look when passed ≥ safe_at (seeds + 1: not possible here)
    unsafe_at: int  # UNSAFE when passed ≤ unsafe_at (−1: not possible here)
    spent: float  # the chance of a false SAFE by this look, exact at the boundary share
    verdict: str


@dataclass(frozen=True)
class PopulationVerdict:
    verdict: str  # SAFE | UNSAFE | UNSETTLED
    seeds: int
    looks_used: int  # looks read until the verdict settled (all of the run's when it did not)
    looks_planned: int
    confidence_spent: float  # false-SAFE error spent through the looks used (at most 1 − confidence)
    looks: list[Look]
    passed: int  # seeds with Δ ≥ −tolerance (a seed without a Δ fails)
    design: Design | None  # the boundaries of this run's plan of looks
    confidence: float
    spending: str

    @functools.cached_property
    def lower(self) -> float | None:
        """Lower confidence bound on the share of runs that pass, from the looks read (None: none read)."""
        if not self.looks:
            return None
        return lower_bound(self.design, len(self.looks) - 1, self.looks[-1].passed, self.confidence, self.spending)


def judge(deltas: list[float | None], rule: PopulationParams, tolerance: float, confidence: float) -> PopulationVerdict:
    """The population verdict from per-seed Δs in seed order (None: a seed with no Δ, or an undertrained probe:
    a failed run)."""
    ok = [d is not None and passes(d, tolerance) for d in deltas]
    looks = plan(tuple(rule.looks), len(deltas)) if deltas else tuple(rule.looks)
    if not deltas:
        return PopulationVerdict(UNSETTLED, 0, 0, len(looks), 0.0, [], 0, None, confidence, rule.spending)
    d = design(looks, rule.share, confidence, rule.spending)
    read = []
    for j, k in enumerate(looks):
        if k > len(deltas):
            break
        s = sum(ok[:k])
        verdict = SAFE if s >= d.safe[j] else UNSAFE if s <= d.unsafe[j] else UNSETTLED
        read.append(Look(k, s, d.safe[j], d.unsafe[j], d.spent_safe[j], verdict))
        if verdict != UNSETTLED:
            break
    return PopulationVerdict(read[-1].verdict, len(deltas), len(read), len(looks), read[-1].spent, read, sum(ok),
                             d, confidence, rule.spending)
