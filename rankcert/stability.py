"""How stable each verdict is: the rule re-applied to joint bootstrap resamples of the eval examples.

Every seed is evaluated on the same examples (results.py checks the fingerprint), so one resample of the
examples is drawn for all seeds and variants together, and each variant's SAFE/UNSAFE is decided on it exactly
as stats.summarize decides it on the real set: the probe gate, per-seed PASS, pass rate and worst seed.
"""
from __future__ import annotations

import numpy as np

from rankcert.stats import EPS, Rule

CHUNK = 500  # resamples per matrix product: bounded memory for any certify.bootstrap_resamples


def safe_shares(probe: dict[int, np.ndarray | None], variants: dict[str, dict[int, np.ndarray | None]],
                rule: Rule) -> dict[str, float]:
    """Variant -> share of joint resamples in which it comes out SAFE.

    `probe` maps each configured seed to its probe's per-example correctness (None when missing), `variants`
    each variant to the same for its adapter. A missing result fails its seed in every resample, as it does
    in the real verdict.
    """
    seeds = list(probe)
    columns, where = _columns(probe, variants, seeds)
    if not columns:
        return {name: 0.0 for name in variants}
    n = len(columns[0])
    matrix = np.stack(columns, axis=1).astype(np.float64)  # [n, adapters]
    rng = np.random.default_rng(rule.bootstrap_seed)
    safe = dict.fromkeys(variants, 0)
    done = 0
    while done < rule.resamples:
        size = min(CHUNK, rule.resamples - done)
        picks = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        correct = counts @ matrix  # [size, adapters]; sums of small integers: exact in any BLAS order
        for name in variants:
            safe[name] += int(_safe(correct, n, where, seeds, name, rule).sum())
        done += size
    return {name: count / rule.resamples for name, count in safe.items()}


def _columns(probe, variants, seeds) -> tuple[list[np.ndarray], dict[tuple[int, str], int]]:
    columns, where = [], {}
    for seed in seeds:
        for name, correct in [("probe", probe[seed])] + [(v, per_seed.get(seed)) for v, per_seed in variants.items()]:
            if correct is not None and probe[seed] is not None:
                where[(seed, name)] = len(columns)
                columns.append(correct)
    return columns, where


def _safe(correct: np.ndarray, n: int, where: dict, seeds: list[int], name: str, rule: Rule) -> np.ndarray:
    """[resamples] bool: the variant's verdict on each resample, by the rule as stats.summarize applies it."""
    size = correct.shape[0]
    passes = np.zeros(size)
    worst = np.full(size, np.inf)
    measured = False
    for seed in seeds:
        if (seed, name) not in where:
            continue  # missing: a failed seed, and no Δ for the worst
        measured = True
        probe_correct = correct[:, where[(seed, "probe")]]
        delta = (correct[:, where[(seed, name)]] - probe_correct) / n  # as stats.seed_result computes it
        gate = probe_correct / n >= rule.probe_min_accuracy - EPS
        passes += gate & (delta >= -rule.tolerance - EPS)
        worst = np.minimum(worst, delta)
    if not measured:
        return np.zeros(size, dtype=bool)
    return (passes / len(seeds) >= rule.min_pass_rate - EPS) & (worst >= -rule.tolerance - EPS)
