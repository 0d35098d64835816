"""How much evidence a verdict has, and how much it needs: seeds and eval examples as crossed samples.

Every seed is evaluated on the same examples, so a variant's paired differences D[s, i] = (variant right) −
(probe right), seed s, example i, are a crossed design: a seed part, an example part and their interaction
(two-way random effects, one observation per cell). Read beside the rule, never changing it:

- `mean_delta_lower_95`: a one-sided lower bound at certify.confidence (95%) on the mean Δ over seeds *and*
  examples. The variance of the grand mean is (MS_seeds + MS_examples − MS_error) / (S·n) from the two-way
  ANOVA mean squares (unbiased; never below MS_error / (S·n)), with Satterthwaite's degrees of freedom and
  Student's t. Owen's pigeonhole bootstrap (seeds and examples resampled independently) estimates the same
  components, but its percentile bound covered only 85% of 300 simulated three-seed runs where the seed part
  dominates, this bound 95% (tests/certification/test_evidence.py simulates both).
- `p_new_seed_passes`: the predictive probability that one more seed, on the same examples, has Δ ≥
  −tolerance: Δ_new ~ mean + s·√(1 + 1/S)·t(S − 1), s the per-seed Δs' standard deviation.
- stability at more seeds and a larger eval set: the joint example resamples of rankcert.certification.stability (so at the
  run's own seeds and examples it *is* the stability figure), each resample extended by new seeds drawn from
  the seed spread the run shows, with the uncertainty S seeds leave: the spread is drawn from its
  scaled-inverse-χ² posterior, the new seeds' centre from the seeds' mean ± spread/√S. New seeds pass the
  probe gate (as the run's own do when they pass). A verdict is settled at a seed count when it holds in at
  least a share certify.confidence of draws (stability ≥ 0.95 for SAFE, ≤ 0.05 for UNSAFE at 0.95).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr, stdtrit  # Student's t CDF and quantile (scipy.stats costs 1 s to import)

from rankcert.certification import stability
from rankcert.certification.stats import Rule, pass_line, passes
from rankcert.certification.words import Safety

SHOWN_SEEDS = (3, 5, 8, 12, 20)  # the report's columns
SEARCHED_SEEDS = (3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 50)  # where the fewest seeds for a settled verdict is sought


@dataclass(frozen=True)
class Components:
    """Two-way ANOVA of D[seeds, examples] without replication."""

    seeds: int
    examples: int
    mean: float
    ms_seeds: float
    ms_examples: float
    ms_error: float

    @property
    def parts_sd(self) -> tuple[float, float]:
        """(seed part, eval-set part) of one seed's Δ as standard deviations: the training run's own spread and
        the noise of judging it on these examples (their squares add up to the per-seed Δs' variance)."""
        return math.sqrt(max(self.ms_seeds - self.ms_error, 0.0) / self.examples), math.sqrt(self.ms_error / self.examples)

    @property
    def seed_spread(self) -> float:
        """Variance of the per-seed Δs (each over all examples): the seed part plus its share of the interaction."""
        return self.ms_seeds / self.examples

    def mean_variance(self) -> tuple[float, float]:
        """(variance of the grand mean, Satterthwaite degrees of freedom)."""
        s, n = self.seeds, self.examples
        terms = [(self.ms_seeds, s - 1), (self.ms_examples, n - 1), (-self.ms_error, (s - 1) * (n - 1))]
        total = sum(ms for ms, _ in terms)
        if total < self.ms_error:  # negative variance components: the mean is at least as uncertain as the noise
            terms, total = [(self.ms_error, (s - 1) * (n - 1))], self.ms_error
        if total <= 0:
            return 0.0, math.inf
        df = total**2 / sum(ms**2 / d for ms, d in terms)
        return total / (s * n), df


def components(diff: np.ndarray) -> Components:
    """The mean squares of D [seeds, examples] (at least two of each)."""
    d = np.asarray(diff, dtype=np.float64)
    s, n = d.shape
    mean = float(d.mean())
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    resid = d - rows[:, None] - cols[None, :] + mean
    return Components(s, n, mean, n * float(((rows - mean) ** 2).sum()) / (s - 1),
                      s * float(((cols - mean) ** 2).sum()) / (n - 1), float((resid**2).sum()) / ((s - 1) * (n - 1)))


def mean_delta_lower(c: Components, confidence: float) -> float:
    variance, df = c.mean_variance()
    return c.mean - t_multiplier(df, confidence) * math.sqrt(variance)


def t_multiplier(df: float, confidence: float) -> float:
    """Student's t quantile: how many standard errors the lower bound lies below the mean at `df`."""
    return float(stdtrit(df, confidence))


def p_new_seed_passes(c: Components, tolerance: float) -> float:
    """Predictive probability that one more seed's Δ (same examples) is ≥ −tolerance."""
    scale = math.sqrt(c.seed_spread * (1 + 1 / c.seeds))
    if scale == 0:
        return 1.0 if passes(c.mean, tolerance) else 0.0
    return float(1.0 - stdtr(c.seeds - 1, (pass_line(tolerance) - c.mean) / scale))


@dataclass(frozen=True)
class SeedModel:
    """New seeds for one variant, from the spread its measured seeds show (see the module's docstring)."""

    measured: int  # seeds with a Δ
    spread: float  # variance of their Δs
    ms_error: float  # the interaction: the part of the spread that shrinks with more examples
    examples: int

    def draw(self, rng: np.random.Generator, centre: np.ndarray, count: int, eval_size: int) -> np.ndarray:
        size, k = len(centre), self.measured - 1
        spread = k * self.spread / rng.chisquare(k, size) if self.spread > 0 else np.zeros(size)
        seed_part = np.maximum(spread - self.ms_error / self.examples, 0.0) + self.ms_error / eval_size
        middle = centre + rng.standard_normal(size) * np.sqrt(spread / self.measured)
        return middle[:, None] + rng.standard_normal((size, count)) * np.sqrt(seed_part)[:, None]


@dataclass(frozen=True)
class Evidence:
    seeds: int  # the run's own seeds and eval examples
    examples: int
    mean_delta_lower_95: float | None
    non_inferior: bool | None  # the lower bound ≥ −tolerance
    p_new_seed_passes: float | None
    stability: dict[int, dict[int, float]]  # eval size -> seed count -> share SAFE
    seeds_for_stable_verdict: int | None  # fewest seeds (searched up to 50) at the run's eval size
    stable_verdict: Safety | None  # SAFE or UNSAFE at that many seeds
    confidence: float  # the share of draws a settled verdict holds in (certify.confidence)
    parts_sd: tuple[float, float] | None  # (seed part, eval-set part) of a seed's Δ (Components.parts_sd)
    mean_delta_df: float | None = None  # Satterthwaite's degrees of freedom of mean_delta_lower_95: few seeds, few df

    @property
    def share_now(self) -> float:
        """The stability figure: the share of SAFE at the run's own seeds and examples."""
        return self.stability[self.examples][self.seeds]

    @property
    def settled(self) -> bool:
        return settled(self.share_now, self.confidence)

    def advice(self) -> str:
        return advice(self.share_now, self.seeds, self.seeds_for_stable_verdict, self.stable_verdict, self.confidence)


def settled(share: float, confidence: float) -> bool:
    """A verdict whose stability is `share` holds in at least a share `confidence` of draws."""
    return share >= confidence or share <= 1 - confidence


def advice(share: float, seeds: int, fewest: int | None, verdict: str | None, confidence: float) -> str:
    """Whether a verdict is settled, and what it would take, in a sentence."""
    now = f"SAFE in {share:.0%} of draws at {seeds} seeds"
    if settled(share, confidence):
        return f"settled ({now})"
    if verdict is None:
        return (f"not settled ({now}); no seed count up to {SEARCHED_SEEDS[-1]} settles it at this tolerance "
                "(new seeds keep landing on both sides of the line)")
    return f"not settled ({now}); {verdict} in ≥ {confidence:.0%} of draws from {fewest} seeds"


def assess(probe: dict[int, np.ndarray | None], variants: dict[str, dict[int, np.ndarray | None]], rule: Rule,
           split_rows: int | None = None, extra_counts: list[int] | None = None) -> dict[str, Evidence]:
    """Variant -> its evidence; `split_rows`: the whole eval split's size, when known, for a prediction there;
    `extra_counts`: seed counts to predict at besides the searched ones."""
    seeds = list(probe)
    diffs = {name: _diff(probe, per_seed) for name, per_seed in variants.items()}
    found = {name: components(d) for name, d in diffs.items() if d is not None}
    models = {name: SeedModel(c.seeds, c.seed_spread, c.ms_error, c.examples) for name, c in found.items()}
    n = next((len(c) for c in probe.values() if c is not None), 0)
    counts = sorted({len(seeds), *(k for k in (*SEARCHED_SEEDS, *(extra_counts or [])) if k > len(seeds))})
    shown = sorted({len(seeds), *(k for k in SHOWN_SEEDS if k > len(seeds))})
    grid = {}
    for eval_size, wanted in [(n, counts), *([(split_rows, shown)] if split_rows and split_rows != n else [])]:
        drawers = {name: functools.partial(m.draw, eval_size=eval_size) for name, m in models.items()}
        grid[eval_size] = stability.shares(probe, variants, rule, eval_size, wanted, drawers)
    out = {}
    for name in variants:
        c = found.get(name)
        by_seeds = {size: table[name] for size, table in grid.items()}
        fewest = next(((k, Safety.SAFE if s >= rule.confidence else Safety.UNSAFE) for k, s in sorted(by_seeds.get(n, {}).items())
                       if settled(s, rule.confidence)), (None, None))
        lower = None if c is None else mean_delta_lower(c, rule.confidence)
        out[name] = Evidence(len(seeds), n, lower, None if lower is None else passes(lower, rule.tolerance),
                             None if c is None else p_new_seed_passes(c, rule.tolerance),
                             {size: {k: s for k, s in table.items() if k in shown or size == n}
                              for size, table in by_seeds.items()}, *fewest, rule.confidence,
                             None if c is None else c.parts_sd,
                             mean_delta_df=None if c is None else c.mean_variance()[1])
    return out


def _diff(probe, per_seed) -> np.ndarray | None:
    """D [seeds, examples] over the seeds where both the probe and the variant were evaluated (≥ 2 of them)."""
    rows = [per_seed[s].astype(np.int8) - probe[s].astype(np.int8) for s in probe
            if probe[s] is not None and per_seed.get(s) is not None]
    return np.stack(rows) if len(rows) >= 2 else None
