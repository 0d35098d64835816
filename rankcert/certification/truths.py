"""Named truths for validating the population verdict: per-seed correctness on the eval set, made as certify reads it.

A truth is a population of training runs. Each run has a true mean Δ, m = μ + scale·Y (Y from the truth's bulk:
normal, Student t3, negated gamma(2)); a share of runs may be shifted, or collapsed to chance. A run is judged on
EXAMPLES examples: the variant and its probe disagree on a share DISAGREE + |m| of them (about 1 point of eval
noise in Δ at m = 0), the variant right on a share ½ + m / (2·disagreement) of those. Δ = (variant right − probe
right) / EXAMPLES, as stats.seed_result computes it; a collapsed probe fails its gate (no Δ: a failed run). The
bulk's centre μ is placed so the truth's pass share P(Δ ≥ −tolerance) is exactly `share`.

`deltas(..., per_example=True)` draws every example's correctness; `per_example=False` draws the counts those
examples add up to (the disagreements, binomial, and the variant's wins among them, binomial): the same law of Δ,
faster (the tests use it).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.stats import binom, gamma, norm, t

from rankcert.certification import population
from rankcert.certification.stats import EPS

EXAMPLES = 500
DISAGREE = 0.05  # examples the variant and probe disagree on at m = 0: eval part of Δ's SD ≈ √(0.05/500) = 1 point
PROBE_ACCURACY = 0.90  # on the examples they agree on: the probe's gate (0.75) fails with chance < 1e-6
HIGHEST = 0.04  # the bulk's centre stays ≤ 4 points (beyond, the probe's accuracy, low where it disagrees, sags)
STEPS = 20_000  # quantiles of the bulk a pass share averages over (midpoint rule in probability)
CHANCE = 0.5  # a collapsed model's accuracy (binary task)
GRID = np.linspace(-0.6, 0.6, 2401)  # true mean Δs at which a run's pass chance is tabled (step 0.05 points)

BULKS = {  # name -> draw standard values; negated gamma(2): standardised, its long tail to the left
    "normal": lambda rng, size: rng.standard_normal(size),
    "t3": lambda rng, size: rng.standard_t(3, size),
    "negated_gamma2": lambda rng, size: (2 - rng.gamma(2.0, 1.0, size)) / math.sqrt(2),
}


@dataclass(frozen=True)
class Truth:
    name: str
    share: float  # the truth's pass share: the bulk is placed to make it so
    bulk: str = "normal"
    scale: float = 0.01  # the seed part: the bulk's scale in Δ (0.01 = 1 point)
    collapsed: float = 0.0  # share of runs collapsed to chance: half the variant (Δ ≈ −35 points), half the probe
    shifted: float = 0.0  # share of runs shifted by `shift` SDs of a bulk run's Δ
    shift: float = 0.0

    @property
    def sd(self) -> float:
        """A bulk normal run's Δ SD: its seed part and eval part."""
        return math.sqrt(self.scale**2 + DISAGREE / EXAMPLES)


def boundary_truths(share: float) -> list[Truth]:
    """The hardest truths for a false SAFE: the pass share exactly the claimed one."""
    return [Truth("normal", share), Truth("t3", share, "t3"), Truth("negated_gamma2", share, "negated_gamma2"),
            Truth("collapsed_1pct", share, collapsed=0.01), Truth("collapsed_5pct", share, collapsed=0.05),
            Truth("collapsed_10pct", share, collapsed=0.10), Truth("shifted_10pct_3sd", share, shifted=0.10, shift=-3),
            Truth("seed_x_example_0", share, scale=0.0), Truth("seed_x_example_0.2", share, scale=0.002),
            Truth("seed_x_example_0.4", share, scale=0.004)]


def safe_truths(share: float) -> list[Truth]:
    """Truths where the claim holds with room: a false UNSAFE is the error."""
    return [Truth("passing_97pct_collapsed_2pct", 0.97, collapsed=0.02),
            Truth("normal_quantile_1sd_above", float(norm.cdf(norm.ppf(share) + 1)))]


@functools.lru_cache(maxsize=8)
def _pass_table(tolerance: float) -> np.ndarray:
    """A run's pass chance at each true mean Δ of GRID: P(2·wins − disagreements ≥ −tolerance·EXAMPLES)."""
    need = math.ceil(-tolerance * EXAMPLES - EPS * EXAMPLES)  # the least (variant − probe) count that passes
    d = np.arange(EXAMPLES + 1)[None, :]
    share = (DISAGREE + np.abs(GRID))[:, None]
    wins_needed = np.ceil((d + need) / 2)  # wins − (d − wins) ≥ need
    return (binom.pmf(d, EXAMPLES, share) * binom.sf(wins_needed - 1, d, 0.5 + GRID[:, None] / (2 * share))).sum(axis=1)


@functools.lru_cache(maxsize=8)
def _quantiles(bulk: str) -> np.ndarray:
    """STEPS equally likely standard values of the bulk (its quantiles at the midpoints)."""
    u = (np.arange(STEPS) + 0.5) / STEPS
    return {"normal": norm.ppf(u), "t3": t.ppf(u, 3), "negated_gamma2": (2 - gamma.ppf(1 - u, 2.0)) / math.sqrt(2)}[bulk]


@functools.lru_cache(maxsize=8)
def _collapsed_pass(tolerance: float) -> float:
    """A run whose variant collapsed to chance passes with this chance (its probe's right on PROBE_ACCURACY of
    examples, near enough); a collapsed probe fails its gate: no Δ."""
    need = math.ceil(-tolerance * EXAMPLES - EPS * EXAMPLES)
    diff = np.convolve(binom.pmf(np.arange(EXAMPLES + 1), EXAMPLES, CHANCE),
                       binom.pmf(np.arange(EXAMPLES + 1), EXAMPLES, PROBE_ACCURACY)[::-1])  # index: V − P + EXAMPLES
    return 0.5 * float(diff[need + EXAMPLES:].sum())  # about 1e-30: a collapsed run fails


def pass_share(truth: Truth, centre: float, tolerance: float) -> float:
    """The truth's pass share with its bulk centred at `centre`."""
    table, y = _pass_table(tolerance), _quantiles(truth.bulk)

    def bulk(offset: float) -> float:
        return float(np.interp(centre + offset + truth.scale * y, GRID, table).mean())
    kept = 1 - truth.collapsed - truth.shifted
    return (kept * bulk(0.0) + truth.shifted * (bulk(truth.shift * truth.sd) if truth.shifted else 0.0)
            + truth.collapsed * _collapsed_pass(tolerance))


@functools.lru_cache(maxsize=64)
def centre(truth: Truth, tolerance: float) -> float:
    """The bulk's centre that makes the truth's pass share truth.share (HIGHEST where even that falls short: 10%
    collapsed leaves at most 90% passing, reached as the bulk moves up)."""
    if pass_share(truth, HIGHEST, tolerance) <= truth.share:
        return HIGHEST
    return optimize.brentq(lambda c: pass_share(truth, c, tolerance) - truth.share, -0.3, HIGHEST, xtol=1e-12)


def deltas(truth: Truth, tolerance: float, rng: np.random.Generator, runs: int, seeds: int,
           per_example: bool = True) -> np.ndarray:
    """[runs, seeds] per-seed Δs (NaN: a probe that failed its gate)."""
    draw = BULKS[truth.bulk]
    m = centre(truth, tolerance) + truth.scale * draw(rng, (runs, seeds))
    u = rng.random((runs, seeds))
    shifted = (u >= truth.collapsed) & (u < truth.collapsed + truth.shifted)
    m = np.clip(np.where(shifted, m + truth.shift * truth.sd, m), GRID[0], GRID[-1])  # as the pass table holds it
    collapse = np.where(u < truth.collapsed, np.where(rng.random((runs, seeds)) < 0.5, 1, 2), 0)  # 1 variant, 2 probe
    share = DISAGREE + np.abs(m)
    wins = 0.5 + m / (2 * share)
    made = _per_example if per_example else _counts
    return np.concatenate([made(rng, share[i:i + 256], wins[i:i + 256], collapse[i:i + 256])
                           for i in range(0, runs, 256)])


def _per_example(rng, share, wins, collapse) -> np.ndarray:
    """Every example's correctness for probe and variant; Δ and the gate as stats.seed_result reads them."""
    shape = share.shape + (EXAMPLES,)
    disagree = rng.random(shape, dtype=np.float32) < share[..., None]
    won = rng.random(shape, dtype=np.float32) < wins[..., None]
    both = rng.random(shape, dtype=np.float32) < PROBE_ACCURACY
    probe, variant = np.where(disagree, ~won, both), np.where(disagree, won, both)
    at_chance = rng.random(shape, dtype=np.float32) < CHANCE
    variant = np.where((collapse == 1)[..., None], at_chance, variant)
    probe = np.where((collapse == 2)[..., None], at_chance, probe)
    delta = (variant.sum(axis=-1, dtype=np.int64) - probe.sum(axis=-1, dtype=np.int64)) / EXAMPLES
    return np.where(probe.mean(axis=-1) < 0.75 - EPS, np.nan, delta)


def _counts(rng, share, wins, collapse) -> np.ndarray:
    """The same law from counts: disagreements, the variant's wins among them."""
    d = rng.binomial(EXAMPLES, share)
    w = rng.binomial(d, wins)
    delta = (2 * w - d) / EXAMPLES
    chance = (rng.binomial(EXAMPLES, CHANCE, share.shape) - rng.binomial(EXAMPLES, PROBE_ACCURACY, share.shape))
    delta = np.where(collapse == 1, chance / EXAMPLES, delta)
    return np.where(collapse == 2, np.nan, delta)


def run(truth: Truth, rule, tolerance: float, confidence: float, rng: np.random.Generator, runs: int,
        per_example: bool = True) -> dict:
    """The procedure as certify runs it, `runs` times: verdict shares, mean seeds read, the observed pass share."""
    x = deltas(truth, tolerance, rng, runs, rule.looks[-1], per_example)
    counts, used = {population.SAFE: 0, population.UNSAFE: 0, population.UNSETTLED: 0}, 0
    for row in x:
        got = population.judge([None if math.isnan(v) else float(v) for v in row], rule, tolerance, confidence)
        counts[got.verdict] += 1
        used += got.looks[-1].seeds
    observed = float(np.mean(np.nan_to_num(x, nan=-1.0) >= -tolerance - EPS))
    return {"runs": runs, **{k: v / runs for k, v in counts.items()}, "mean_seeds": used / runs,
            "observed_share": observed}
