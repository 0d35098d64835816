"""How stable each verdict is: the rule re-applied to joint bootstrap resamples of the eval examples.

Every seed is evaluated on the same examples (results.py checks the fingerprint), so one resample of the
examples is drawn for all seeds and variants together, and each variant's SAFE/UNSAFE is decided on it exactly
as stats.summarize decides it on the real set: the probe gate, per-seed PASS, pass rate and worst seed.
`shares` also answers "what if": a resample of more (or fewer) examples than were evaluated, and more seeds
than were run, the added ones drawn by the caller (rankcert.certification.evidence models them).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from rankcert.certification import stats
from rankcert.certification.stats import Rule

CHUNK = 500  # resamples per matrix product: bounded memory for any certify.bootstrap_resamples

# (rng, centre [size], count) -> [size, count] Δs of `count` added seeds, given each resample's mean Δ over the
# real seeds (`centre`)
NewSeeds = Callable[[np.random.Generator, np.ndarray, int], np.ndarray]


def shares(probe: dict[int, np.ndarray | None], variants: dict[str, dict[int, np.ndarray | None]], rule: Rule,
           eval_size: int | None = None, seed_counts: list[int] | None = None,
           new_seeds: dict[str, NewSeeds] | None = None) -> dict[str, dict[int, float]]:
    """Variant -> {seed count: share SAFE}, each resample drawing `eval_size` examples (default: as many as
    were evaluated) with replacement. `probe` maps each configured seed to its probe's per-example correctness
    (None when missing), `variants` each variant to the same for its adapter; a missing result fails its seed in
    every resample, as it does in the real verdict. Counts beyond the configured seeds add seeds drawn by the
    variant's `new_seeds` (assumed to pass the probe gate); a variant without one gets no such count.
    With the defaults, the same draws as every earlier release: the figure is reproducible across versions."""
    seeds, new_seeds = list(probe), new_seeds or {}
    counts = seed_counts or [len(seeds)]
    found = {name: {k: 0 for k in counts if k <= len(seeds) or name in new_seeds} for name in variants}
    extend = np.random.default_rng([rule.bootstrap_seed, 1])  # the added seeds' own stream: example draws unchanged
    for gate, deltas in joint_deltas(probe, variants, rule, eval_size):
        for name, delta in deltas.items():
            centre = np.nanmean(delta, axis=1) if name in new_seeds else None  # a seed model needs measured seeds
            for count in found[name]:
                added = count - len(seeds)
                new = new_seeds[name](extend, centre, added) if added > 0 else None
                found[name][count] += int(rule_safe(gate, delta, rule, new).sum())
    return {name: {count: hits / rule.bootstrap_resamples for count, hits in by_count.items()}
            for name, by_count in found.items()}


def joint_deltas(probe, variants, rule: Rule, eval_size: int | None = None
                 ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Chunks of joint resamples: (probe gate [size, seeds] bool, variant -> Δ [size, seeds], NaN where missing)."""
    seeds = list(probe)
    columns, where = _columns(probe, variants, seeds)
    n = len(columns[0]) if columns else 0
    draw = eval_size or n
    matrix = np.stack(columns, axis=1).astype(np.float64) if columns else None  # [n, adapters]
    rng = np.random.default_rng(rule.bootstrap_seed)
    done = 0
    while done < rule.bootstrap_resamples:
        size = min(CHUNK, rule.bootstrap_resamples - done)
        done += size
        if matrix is None:
            yield np.zeros((size, len(seeds)), dtype=bool), {name: np.full((size, len(seeds)), np.nan)
                                                             for name in variants}
            continue
        picks = rng.integers(0, n, size=(size, draw)) + n * np.arange(size)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        correct = counts @ matrix  # [size, adapters]; sums of small integers: exact in any BLAS order
        gate = np.zeros((size, len(seeds)), dtype=bool)
        deltas = {name: np.full((size, len(seeds)), np.nan) for name in variants}
        for k, seed in enumerate(seeds):
            if (seed, "probe") not in where:
                continue
            probe_correct = correct[:, where[(seed, "probe")]]
            gate[:, k] = stats.at_least(probe_correct / draw, rule.probe_min_accuracy)
            for name in variants:
                if (seed, name) in where:
                    deltas[name][:, k] = (correct[:, where[(seed, name)]] - probe_correct) / draw  # as stats computes
        yield gate, deltas


def rule_safe(gate: np.ndarray, delta: np.ndarray, rule: Rule, new: np.ndarray | None = None) -> np.ndarray:
    """[resamples] bool: the rule as stats.summarize applies it; `new` are added seeds' Δs (gate passed)."""
    measured = np.isfinite(delta)
    passed = gate & measured & stats.passes(np.where(measured, delta, -np.inf), rule.tolerance)
    passes, seeds = passed.sum(axis=1).astype(np.float64), delta.shape[1]
    worst = np.where(measured, delta, np.inf).min(axis=1) if seeds else np.full(len(delta), np.inf)
    if new is not None:
        passes += stats.passes(new, rule.tolerance).sum(axis=1)
        seeds += new.shape[1]
        worst = np.minimum(worst, new.min(axis=1))
    if not measured.any():
        return np.zeros(len(delta), dtype=bool)  # nothing measured: never SAFE, as in the real verdict
    return stats.at_least(passes / seeds, rule.min_pass_rate) & stats.passes(worst, rule.tolerance)


def _columns(probe, variants, seeds) -> tuple[list[np.ndarray], dict[tuple[int, str], int]]:
    columns, where = [], {}
    for seed in seeds:
        for name, correct in [("probe", probe[seed])] + [(v, per_seed.get(seed)) for v, per_seed in variants.items()]:
            if correct is not None and probe[seed] is not None:
                where[(seed, name)] = len(columns)
                columns.append(correct)
    return columns, where
