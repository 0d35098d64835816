"""The population verdict: a claim about the next training run, not only about the runs that were made.

The claim, per variant: "with confidence γ, at least a share p of training runs (seeds), evaluated on this eval
set, have Δ ≥ −tolerance". Each seed's Δ includes the eval set's noise (a run is judged on this eval set), so the
population is of (training run, this eval set) pairs. Under a normal model of the per-seed Δs:

- SAFE when the lower one-sided (p, γ) tolerance limit m − k·s ≥ −tolerance, k = t'⁻¹(γ; S − 1, z_p√S)/√S (the
  noncentral t): m − k·s is a γ lower confidence bound on the p-complement quantile μ − z_p·σ of Δ.
- UNSAFE when the γ *upper* confidence bound on that quantile, m − k'·s with k' from 1 − γ, is below −tolerance:
  the data show with confidence γ that more than a share 1 − p of runs fall below the line.
- UNSETTLED otherwise.

Sequential looks: the verdict is read at pre-declared seed counts (`looks`); a variant's verdict is the first
look that settles it. The error 1 − γ is split over the looks so the chance of a false SAFE (or a false UNSAFE)
over the whole procedure stays ≤ 1 − γ however early it stops: `bonferroni` gives each look (1 − γ)/J;
`calibrated` gives every look the same level γ*, found by simulation so that the chance of crossing at *any* look
is exactly 1 − γ at the boundary (the p-quantile at −tolerance). That is valid because the statistic is pivotal
under the normal model: its law at the boundary depends on no unknown (tests/test_population.py checks both
rules' false-SAFE rate by simulation). Without the normal model the claim needs `runs_needed` passing seeds in a
row (29 for p = 0.90, γ = 0.95); `distribution_free` reads the seeds that way too.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtr, bdtrc, nctdtrit, ndtri, stdtr

from rankcert.certification.stats import EPS
from rankcert.certification.words import Safety
from rankcert.config.params import PopulationParams

SAFE, UNSAFE, UNSETTLED = Safety.SAFE, Safety.UNSAFE, Safety.UNSETTLED  # short names for the verdict words
CALIBRATION_DRAWS = 40_000  # simulated look sequences per calibration (Monte Carlo SE of a 5% rate ≈ 0.1 point)
CALIBRATION_SEED = 20261202
NORMALITY_DRAWS = 4000


@functools.lru_cache(maxsize=1024)
def factor(seeds: int, share: float, confidence: float) -> float:
    """k of the lower one-sided (share, confidence) normal tolerance limit m − k·s."""
    return float(nctdtrit(seeds - 1, ndtri(share) * math.sqrt(seeds), confidence)) / math.sqrt(seeds)


def runs_needed(share: float, confidence: float) -> int:
    """Passing runs in a row that show, with no distributional assumption, that at least `share` pass."""
    return math.ceil(math.log(1 - confidence) / math.log(share) - 1e-12)


def distribution_free(passed: int, seeds: int, share: float, confidence: float) -> str:
    """The same claim from the count of passing seeds alone (exact binomial, one-sided)."""
    if passed and bdtrc(passed - 1, seeds, share) <= 1 - confidence:  # P(X ≥ passed | share) small: more pass
        return SAFE
    if bdtr(passed, seeds, share) <= 1 - confidence:  # P(X ≤ passed | share) small: fewer pass
        return UNSAFE
    return UNSETTLED


def plan(looks: tuple[int, ...], seeds: int) -> tuple[int, ...]:
    """The looks a run of `seeds` seeds is read at: the declared looks before it, then the run itself in place
    of the first declared look it reaches (so a run between looks keeps the plan's number of looks)."""
    return tuple(k for k in looks if k < seeds) + (seeds,) + tuple(k for k in looks if k >= seeds)[1:]


@functools.lru_cache(maxsize=64)
def look_levels(looks: tuple[int, ...], share: float, confidence: float, spending: str) -> tuple[
        tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(per-look confidence for SAFE, per-look confidence for UNSAFE, false-SAFE error spent by each look)."""
    alpha = 1 - confidence
    if spending == "bonferroni" or len(looks) == 1:
        level = 1 - alpha / len(looks)
        return (level,) * len(looks), (level,) * len(looks), tuple(alpha * (j + 1) / len(looks)
                                                                   for j in range(len(looks)))
    t = _boundary_statistics(looks, share)
    nc = [ndtri(share) * math.sqrt(k) for k in looks]

    def crossings(level: float, upper: bool) -> np.ndarray:
        q = level if upper else 1 - level
        limits = np.array([nctdtrit(k - 1, c, q) for k, c in zip(looks, nc)])
        return t >= limits if upper else t <= limits  # [draws, looks]: crossed at look j

    bonferroni = 1 - alpha / len(looks)
    safe_level = _bisect(lambda g: crossings(g, True).any(axis=1).mean(), alpha, confidence, bonferroni)
    unsafe_level = _bisect(lambda g: crossings(g, False).any(axis=1).mean(), alpha, confidence, bonferroni)
    spent = tuple(float(x) for x in np.logical_or.accumulate(crossings(safe_level, True), axis=1).mean(axis=0))
    return (safe_level,) * len(looks), (unsafe_level,) * len(looks), spent


def _boundary_statistics(looks: tuple[int, ...], share: float) -> np.ndarray:
    """T_j = (√n_j·(m_j − μ)/σ + z_p√n_j) / (s_j/σ) for nested normal samples: the pivot of the tolerance limit
    (m_j − k·s_j ≥ μ − z_p·σ exactly when T_j ≥ k·√n_j), [draws, looks]."""
    z = np.random.default_rng(CALIBRATION_SEED).standard_normal((CALIBRATION_DRAWS, looks[-1]))
    sums, squares = np.cumsum(z, axis=1), np.cumsum(z * z, axis=1)
    n = np.array(looks, dtype=np.float64)
    mean = sums[:, n.astype(int) - 1] / n
    sd = np.sqrt((squares[:, n.astype(int) - 1] - n * mean**2) / (n - 1))
    return (np.sqrt(n) * mean + ndtri(share) * np.sqrt(n)) / sd


def _bisect(rate, alpha: float, low: float, high: float) -> float:
    """The smallest per-look confidence in [low, high] whose crossing rate is ≤ alpha (rate falls as it rises)."""
    if rate(low) <= alpha:
        return low
    for _ in range(24):  # the interval is ≤ 1 − confidence wide: 24 halvings leave it under 1e-8
        mid = (low + high) / 2
        low, high = (low, mid) if rate(mid) <= alpha else (mid, high)
    return high


@dataclass(frozen=True)
class Look:
    seeds: int
    confidence_safe: float  # this look's share of the confidence, for a SAFE and for an UNSAFE
    confidence_unsafe: float
    lower: float  # the lower tolerance limit: γ-lower bound on the (1 − p)-quantile of Δ
    upper: float  # the γ-upper bound on that quantile
    verdict: str


@dataclass(frozen=True)
class Normality:
    """What the normal model's check found: outlier seeds, and the probability-plot correlation's p-value."""

    outliers: list[int]  # seeds (by index in seed order) whose Δ is far from the others'
    plot_correlation: float | None
    p_value: float | None  # small: the Δs look less normal than normal samples of this size do (skew, heavy tail)

    @property
    def doubtful(self) -> bool:
        return bool(self.outliers) or (self.p_value is not None and self.p_value < 0.05)


@dataclass(frozen=True)
class PopulationVerdict:
    verdict: str  # SAFE | UNSAFE | UNSETTLED
    lower: float | None  # the deciding look's lower tolerance limit (the last look's when unsettled)
    seeds: int
    looks_used: int  # looks read until the verdict settled (all of the run's when it did not)
    looks_planned: int
    confidence_spent: float  # false-SAFE error spent through the looks used (at most 1 − confidence)
    looks: list[Look]
    normality: Normality | None
    distribution_free: str
    passed: int  # seeds with Δ ≥ −tolerance
    why_not: str | None = None  # why there is no verdict (a seed without a Δ)


def judge(deltas: list[float | None], rule: PopulationParams, tolerance: float, confidence: float,
          eval_sd: Callable[[int], float] | None = None) -> PopulationVerdict:
    """The population verdict from per-seed Δs in seed order (None: a seed with no Δ, or an undertrained probe).

    `eval_sd(k)`: the eval-set part of one seed's spread, from the first k seeds' per-example differences. A SAFE
    never takes a spread below it: Δs are multiples of 1/n, so a few seeds can tie exactly (s = 0, a limit at the
    mean) though runs do differ; a larger spread only makes SAFE rarer, so the error bound still holds."""
    seeds = len(deltas)
    passed = sum(d is not None and d >= -tolerance - EPS for d in deltas)
    free = distribution_free(passed, seeds, rule.share, confidence)
    looks = plan(tuple(rule.looks), seeds)
    missing = [i for i, d in enumerate(deltas) if d is None]
    if missing or seeds < 2:
        why = (f"{len(missing)} seed(s) have no Δ (missing, or the probe failed its gate): the normal model needs "
               "every seed's Δ" if missing else "one seed shows no spread")
        return PopulationVerdict(UNSETTLED, None, seeds, 0, len(looks), 0.0, [], None, free, passed, why)
    safe_levels, unsafe_levels, spent = look_levels(looks, rule.share, confidence, rule.spending)
    read, decided = [], None
    for j, k in enumerate(k for k in looks if k <= seeds):
        x = np.asarray(deltas[:k], dtype=np.float64)
        m, s = float(x.mean()), float(x.std(ddof=1))
        lower = m - factor(k, rule.share, safe_levels[j]) * max(s, eval_sd(k) if eval_sd else 0.0)
        upper = m - factor(k, rule.share, 1 - unsafe_levels[j]) * s
        verdict = SAFE if lower >= -tolerance - EPS else UNSAFE if upper < -tolerance - EPS else UNSETTLED
        read.append(Look(k, safe_levels[j], unsafe_levels[j], lower, upper, verdict))
        if verdict != UNSETTLED:
            decided = read[-1]
            break
    final = decided or read[-1]
    return PopulationVerdict(final.verdict, final.lower, seeds, len(read), len(looks), spent[len(read) - 1], read,
                             normality(deltas), free, passed)


def normality(deltas: list[float]) -> Normality:
    """Outliers by externally studentized residuals (Bonferroni over seeds, from 4 seeds), and the normal
    probability-plot correlation with its p-value from simulated normal samples of the same size (from 5)."""
    x = np.asarray(deltas, dtype=np.float64)
    n = x.size
    outliers = []
    if n >= 4:
        for i in range(n):
            rest = np.delete(x, i)
            spread = rest.std(ddof=1) * math.sqrt(1 + 1 / (n - 1))
            if spread > 0:
                t = abs(x[i] - rest.mean()) / spread
                if 2 * stdtr(n - 2, -t) < 0.05 / n:
                    outliers.append(i)
            elif x[i] != rest.mean():
                outliers.append(i)
    if n < 5 or x.std() == 0:
        return Normality(outliers, None, None)
    r = float(_plot_correlation(np.sort(x)))
    return Normality(outliers, r, float(np.mean(_null_correlations(n) <= r)))


@functools.lru_cache(maxsize=32)
def _null_correlations(n: int) -> np.ndarray:
    """The probability-plot correlation of normal samples of size n (the check's null distribution)."""
    return _plot_correlation(np.sort(np.random.default_rng(n).standard_normal((NORMALITY_DRAWS, n)), axis=1))


def _plot_correlation(ordered: np.ndarray) -> np.ndarray | float:
    """Correlation of sorted values with Blom's normal scores (along the last axis)."""
    n = ordered.shape[-1]
    scores = ndtri((np.arange(1, n + 1) - 0.375) / (n + 0.25))
    centred = ordered - ordered.mean(axis=-1, keepdims=True)
    return (centred @ (scores - scores.mean())) / np.sqrt((centred**2).sum(axis=-1) * ((scores - scores.mean())**2).sum())
