"""Statistics and verdicts: paired Δ with bootstrap CI and McNemar p, per-seed PASS/FAIL, per-variant SAFE/UNSAFE."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from rankcert.certification.words import LevelName, Safety
from rankcert.config.params import CertifyParams as Rule  # the rule is the certify section: one object, one home

# Δ is a difference of two accuracies k/n; a Δ of exactly −tolerance must pass despite float rounding.
EPS = 1e-9

PASS, FAIL, UNDERTRAINED, MISSING = "PASS", "FAIL", "UNDERTRAINED", "MISSING"


@dataclass(frozen=True)
class SeedResult:
    seed: int
    status: str  # PASS | FAIL | UNDERTRAINED | MISSING
    probe_accuracy: float | None
    accuracy: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    mcnemar_p: float | None
    se: float | None = None  # standard error of Δ from the paired per-example differences: the eval set's resolution

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass(frozen=True)
class VariantSummary:
    name: str
    seeds: list[SeedResult]
    pass_rate: float
    worst_delta: float | None
    mean_delta: float | None
    std_delta: float | None
    safe: bool
    non_inferior: bool  # every seed measured and its CI lower bound ≥ −tolerance
    pass_rate_binding: bool  # would the verdict differ without the pass-rate condition?

    @property
    def status(self) -> Safety:
        return Safety.SAFE if self.safe else Safety.UNSAFE

    @property
    def observed(self) -> Safety | None:
        """The status, or None when no seed was measured (a policy claim about it is "not measured")."""
        return None if self.worst_delta is None else self.status


def undertrained(probe_accuracy: float | None, rule: Rule) -> bool:
    """The probe quality gate failed (a missing probe fails it too)."""
    return probe_accuracy is None or not at_least(probe_accuracy, rule.probe_min_accuracy)


def at_least(value, bound):
    """value ≥ bound up to float rounding (EPS); elementwise on numpy arrays."""
    return value >= bound - EPS


def pass_line(tolerance: float) -> float:
    """The lowest Δ that passes: −tolerance, less EPS."""
    return -tolerance - EPS


def passes(delta, tolerance: float):
    """The pass test, Δ ≥ −tolerance (a seed's Δ, a worst Δ, a bound on it; elementwise on numpy arrays)."""
    return delta >= pass_line(tolerance)


def mcnemar_exact(probe_correct: np.ndarray, variant_correct: np.ndarray) -> float:
    """Two-sided exact McNemar p-value on the discordant pairs."""
    b = int(np.sum(probe_correct & ~variant_correct))
    c = int(np.sum(~probe_correct & variant_correct))
    n = b + c
    if n == 0:
        return 1.0
    tail = math.fsum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def paired_se(probe_correct: np.ndarray, variant_correct: np.ndarray) -> float:
    """Standard error of the paired Δ: the per-example differences' standard deviation over √n."""
    diff = variant_correct.astype(np.float64) - probe_correct.astype(np.float64)
    return float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0


def paired_bootstrap_ci(probe_correct: np.ndarray, variant_correct: np.ndarray, resamples: int,
                        seed: int, confidence: float) -> tuple[float, float]:
    """Percentile CI of Δ from resampling eval examples with replacement.

    Each example's difference is −1, 0 or +1, so a resample is fully described by how many of each it
    drew: one multinomial draw per resample is the same distribution as resampling indices, and fast.
    """
    diff = variant_correct.astype(np.int8) - probe_correct.astype(np.int8)
    n = diff.size
    shares = [np.mean(diff == -1), np.mean(diff == 0), np.mean(diff == 1)]
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples)
    deltas = (counts[:, 2] - counts[:, 0]) / n
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [alpha, 1.0 - alpha])
    return float(low), float(high)


def seed_result(seed: int, labels: np.ndarray | None, probe_pred: np.ndarray | None,
                variant_pred: np.ndarray | None, rule: Rule) -> SeedResult:
    """One seed's verdict; a missing probe or variant, or an undertrained probe, is a failed seed."""
    if probe_pred is None or labels is None:
        return SeedResult(seed, MISSING, None, None, None, None, None, None)
    probe_correct = probe_pred == labels
    probe_acc = float(probe_correct.mean())
    if variant_pred is None:
        return SeedResult(seed, MISSING, probe_acc, None, None, None, None, None)
    variant_correct = variant_pred == labels
    acc = float(variant_correct.mean())
    delta = (int(variant_correct.sum()) - int(probe_correct.sum())) / labels.size
    low, high = paired_bootstrap_ci(probe_correct, variant_correct, rule.bootstrap_resamples, rule.bootstrap_seed + seed,
                                    rule.confidence)
    if undertrained(probe_acc, rule):
        status = UNDERTRAINED
    else:
        status = PASS if passes(delta, rule.tolerance) else FAIL
    return SeedResult(seed, status, probe_acc, acc, delta, low, high, mcnemar_exact(probe_correct, variant_correct),
                      paired_se(probe_correct, variant_correct))


def summarize(name: str, results: list[SeedResult], rule: Rule) -> VariantSummary:
    """Cross-seed summary; pass rate counts every configured seed, so failures can't drop out."""
    deltas = [r.delta for r in results if r.delta is not None]
    pass_rate = sum(r.passed for r in results) / len(results) if results else 0.0
    worst = min(deltas) if deltas else None
    rate_ok = at_least(pass_rate, rule.min_pass_rate)
    worst_ok = worst is not None and passes(worst, rule.tolerance)
    non_inferior = bool(results) and all(r.ci_low is not None and passes(r.ci_low, rule.tolerance) for r in results)
    return VariantSummary(
        name=name, seeds=results, pass_rate=pass_rate, worst_delta=worst,
        mean_delta=statistics.fmean(deltas) if deltas else None,
        std_delta=statistics.stdev(deltas) if len(deltas) >= 2 else None,
        safe=rate_ok and worst_ok, non_inferior=non_inferior, pass_rate_binding=worst_ok and not rate_ok,
    )


@dataclass(frozen=True)
class Level:
    name: LevelName
    reasons: list[str]


IMPORTED_CLAIMS = ("one imported adapter (probe.adapter), so the spread over training runs is unknown: what holds is "
                   "each cut's paired bootstrap CI of Δ over the eval examples, McNemar's p and the non-inferiority "
                   "reading, for this adapter on this eval set; a SAFE over seeds, the population verdict and the "
                   "evidence predictions need retrained seeds (a probe trained here, several seeds)")


def validation_level(n_seeds: int, steps: int, train_size: int, eval_size: int, need, imported: bool = False) -> Level:
    """What the run can support, from what it actually did; `need` is CertifiableLevel. `imported`: the probe is a
    user's adapter (one run, not trained here), which no seed count makes certifiable."""
    short = []
    if imported:
        return Level(LevelName.IMPORTED, [IMPORTED_CLAIMS] + ([f"{eval_size} eval examples < {need.min_eval_size}"]
                                                      if eval_size < need.min_eval_size else []))
    if n_seeds < need.min_seeds:
        short.append(f"{n_seeds} seed(s) < {need.min_seeds}")
    if steps < need.min_steps:
        short.append(f"{steps} steps < {need.min_steps}")
    if train_size < need.min_train_size:
        short.append(f"{train_size} train examples < {need.min_train_size}")
    if eval_size < need.min_eval_size:
        short.append(f"{eval_size} eval examples < {need.min_eval_size}")
    if not short:
        return Level(LevelName.CERTIFIABLE, [f"{n_seeds} seeds, {steps} steps, {train_size}/{eval_size} examples"])
    return Level(LevelName.SCREENING_PLUS if n_seeds >= 2 else LevelName.SCREENING, short)
