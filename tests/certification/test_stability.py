"""The joint-bootstrap stability of a verdict: the rule applied to resamples of the eval examples."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankcert.certification import stability, stats
from tests.helpers import rule

RULE = rule(bootstrap_resamples=2000)


def correct_with_delta(n: int, probe_right: int, delta_examples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(probe, variant) correctness: the variant gets `delta_examples` more (or fewer) right, spread at random."""
    rng = np.random.default_rng(seed)
    probe = np.zeros(n, dtype=bool)
    probe[rng.choice(n, probe_right, replace=False)] = True
    variant = probe.copy()
    flip = rng.choice(np.flatnonzero(~probe if delta_examples > 0 else probe), abs(delta_examples), replace=False)
    variant[flip] = delta_examples > 0
    return probe, variant


def shares(deltas: dict[str, list[int]], n: int = 500) -> dict[str, float]:
    probe, variants = {}, {}
    for name, per_seed in deltas.items():
        for seed, d in enumerate(per_seed):
            p, v = correct_with_delta(n, 420, d, seed)
            probe[seed] = p
            variants.setdefault(name, {})[seed] = v
    return safe_shares(probe, variants)


def safe_shares(probe, variants) -> dict[str, float]:
    """Variant -> share of resamples in which it is SAFE, at the run's own seeds and examples."""
    return {name: by_count[len(probe)] for name, by_count in stability.shares(probe, variants, RULE).items()}


def test_clear_verdicts_are_stable_and_a_borderline_one_is_not():
    found = shares({"clear_safe": [5, 0, 3], "clear_unsafe": [-60, -55, -70], "borderline": [-12, -12, -12]})
    assert found["clear_safe"] > 0.95
    assert found["clear_unsafe"] == 0.0
    assert 0.05 < found["borderline"] < 0.95  # Δ −2.4 points on 500 examples: either side of −2.5 by chance


def test_same_inputs_give_the_same_shares():
    assert shares({"v": [-10, -12, -14]}) == shares({"v": [-10, -12, -14]})


def test_a_missing_seed_fails_in_every_resample_as_in_the_real_verdict():
    probe, variant = correct_with_delta(300, 260, 5, 1)
    probes = dict.fromkeys((1, 2, 3, 4), probe)
    found = safe_shares(probes, {"v": {1: variant, 2: variant, 3: variant, 4: None}})
    assert found["v"] > 0.9  # 3 of 4 seeds pass: 0.67 is met
    found = safe_shares(probes, {"v": {1: variant, 2: variant, 3: None, 4: None}})
    assert found["v"] == 0.0  # 2 of 4: never


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(-30, 30)), min_size=1, max_size=4), st.integers(0, 2**16))
def test_on_the_real_examples_the_rule_is_the_one_stats_applies(seeds, draw):
    """The resample that draws every example once is the real eval set: there the verdict must be stats'."""
    n = 100
    probe, variants, results = {}, {"v": {}}, []
    for seed, (wrong, delta) in enumerate(seeds):
        rng = np.random.default_rng(draw + seed)
        p = np.ones(n, dtype=bool)
        p[rng.choice(n, wrong, replace=False)] = False
        v = p.copy()
        pool = np.flatnonzero(~p if delta > 0 else p)
        v[rng.choice(pool, min(abs(delta), pool.size), replace=False)] = delta > 0
        probe[seed], variants["v"][seed] = p, v
        labels = np.ones(n, dtype=int)
        results.append(stats.seed_result(seed, labels, p.astype(int), v.astype(int), RULE))
    gate = np.array([[probe[s].mean() >= RULE.probe_min_accuracy - stats.EPS for s in probe]])
    delta = np.array([[(int(variants["v"][s].sum()) - int(probe[s].sum())) / n for s in probe]])
    on_real = stability.rule_safe(gate, delta, RULE)
    assert bool(on_real[0]) == stats.summarize("v", results, RULE).safe


def test_paired_se_is_the_standard_error_of_the_mean_difference():
    probe, variant = correct_with_delta(400, 300, -20, 3)
    diff = variant.astype(float) - probe.astype(float)
    assert stats.paired_se(probe, variant) == pytest.approx(diff.std(ddof=1) / 20)
