import numpy as np
import pytest

from rankcert.certification import stats
from rankcert.config.params import CertifiableLevel
from tests.helpers import rule

RULE = rule(bootstrap_resamples=10000)


def predictions_with_delta(n_correct_probe: int, n_correct_variant: int, n: int = 1000):
    labels = np.ones(n, dtype=int)
    probe = np.zeros(n, dtype=int)
    probe[:n_correct_probe] = 1
    variant = np.zeros(n, dtype=int)
    variant[:n_correct_variant] = 1
    return labels, probe, variant


def test_delta_of_exactly_minus_tolerance_passes():
    labels, probe, variant = predictions_with_delta(800, 775)  # Δ = -0.025 exactly in counts
    result = stats.seed_result(42, labels, probe, variant, RULE)
    assert result.delta == pytest.approx(-0.025)
    assert result.status == stats.PASS
    assert stats.passes(0.775 - 0.8, 0.025)  # the float form (-0.02500000000000002) passes too


def test_just_below_tolerance_fails():
    labels, probe, variant = predictions_with_delta(800, 774)
    assert stats.seed_result(42, labels, probe, variant, RULE).status == stats.FAIL


def test_undertrained_probe_fails_the_seed_even_when_delta_is_fine():
    labels, probe, variant = predictions_with_delta(700, 720)
    result = stats.seed_result(42, labels, probe, variant, RULE)
    assert result.status == stats.UNDERTRAINED and not result.passed
    summary = stats.summarize("v", [result, stats.seed_result(1, *predictions_with_delta(900, 900), RULE)], RULE)
    assert summary.pass_rate == 0.5 and not summary.safe


def test_missing_seed_counts_as_a_failure_and_is_never_dropped():
    labels, probe, variant = predictions_with_delta(800, 800)
    results = [stats.seed_result(s, labels, probe, variant, RULE) for s in (1, 2)]
    results.append(stats.seed_result(3, labels, probe, None, RULE))
    summary = stats.summarize("v", results, RULE)
    assert [r.status for r in summary.seeds] == [stats.PASS, stats.PASS, stats.MISSING]
    assert summary.pass_rate == pytest.approx(2 / 3)
    assert summary.worst_delta == 0.0
    assert summary.safe is False  # 0.667 < 0.67
    assert summary.pass_rate_binding and not summary.non_inferior


def test_worst_delta_is_the_minimum_and_decides():
    rows = [predictions_with_delta(800, c) for c in (810, 790, 760)]
    summary = stats.summarize("v", [stats.seed_result(i, *r, RULE) for i, r in enumerate(rows)], RULE)
    assert summary.worst_delta == pytest.approx(-0.04)
    assert summary.mean_delta == pytest.approx((0.01 - 0.01 - 0.04) / 3)
    assert summary.std_delta == pytest.approx(np.std([0.01, -0.01, -0.04], ddof=1))
    assert not summary.safe


def test_identical_predictions_give_zero_delta_and_zero_ci():
    labels, probe, _ = predictions_with_delta(800, 800)
    result = stats.seed_result(7, labels, probe, probe.copy(), RULE)
    assert (result.delta, result.ci_low, result.ci_high, result.mcnemar_p) == (0.0, 0.0, 0.0, 1.0)


def test_single_seed_summary_has_no_std():
    summary = stats.summarize("v", [stats.seed_result(1, *predictions_with_delta(800, 800), RULE)], RULE)
    assert summary.std_delta is None and summary.safe


def test_bootstrap_ci_matches_index_resampling_and_covers_delta():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    probe = np.where(rng.random(500) < 0.82, labels, 1 - labels)
    variant = np.where(rng.random(500) < 0.9, probe, 1 - probe)
    low, high = stats.paired_bootstrap_ci(probe == labels, variant == labels, 20000, 1, 0.95)
    diff = (variant == labels).astype(int) - (probe == labels).astype(int)
    idx = np.random.default_rng(2).integers(0, 500, (20000, 500))
    ref_low, ref_high = np.quantile(diff[idx].mean(axis=1), [0.025, 0.975])
    assert low == pytest.approx(ref_low, abs=0.004) and high == pytest.approx(ref_high, abs=0.004)
    assert low <= diff.mean() <= high


def test_mcnemar_exact_known_values():
    probe = np.array([True] * 10 + [False] * 2)
    variant = np.array([False] * 10 + [True] * 2)
    # b=10, c=2: two-sided exact p = 2 * P(X <= 2 | n=12, 0.5) = 2 * 79 / 4096
    assert stats.mcnemar_exact(probe, variant) == pytest.approx(2 * 79 / 4096)


def test_validation_levels():
    need = CertifiableLevel(min_seeds=3, min_steps=500, min_train_size=2000, min_eval_size=500)
    assert stats.validation_level(3, 500, 2000, 500, need).name == "certifiable"
    assert stats.validation_level(3, 499, 2000, 500, need).name == "screening+"
    assert stats.validation_level(1, 500, 2000, 500, need).name == "screening"
    assert "2 seed(s) < 3" in stats.validation_level(2, 500, 2000, 500, need).reasons
    # an imported adapter is one training run: no seed count makes it certifiable, and the level says what holds
    imported = stats.validation_level(3, 500, 2000, 400, need, imported=True)
    assert imported.name == "imported" and imported.reasons[1:] == ["400 eval examples < 500"]
    assert "paired bootstrap CI of Δ over the eval examples" in imported.reasons[0]
    assert "need retrained seeds" in imported.reasons[0]
