"""Collapsed runs: the rule's two arms, its edges, and the exact interval of the rate."""
import math

import pytest
from scipy.stats import binom

from rankcert.certification import collapse
from rankcert.certification.words import CollapseKind


def test_chance_is_the_majority_share():
    assert collapse.chance([1] * 265 + [0] * 235) == pytest.approx(0.53)


def test_a_run_at_chance_is_named_with_the_chance_level():
    runs = {3000: {"probe": 0.818, "uniform_r24": 0.530, "uniform_r20": 0.824}}
    [found] = collapse.find(runs, chance_share=0.53, examples=500)
    assert (found.seed, found.adapter, found.why) == (3000, "uniform_r24", CollapseKind.AT_CHANCE)
    assert found.line() == "uniform_r24 seed 3000: 53.0%, chance is 53.0%: collapsed"


def test_the_chance_band_is_three_binomial_standard_errors():
    edge = 0.53 + 3 * math.sqrt(0.53 * 0.47 / 500)
    assert collapse.at_chance(edge, 0.53, 500)
    assert not collapse.at_chance(edge + 0.002, 0.53, 500)
    assert collapse.at_chance(0.49, 0.53, 500)  # answering at random scores below the majority share
    assert not collapse.at_chance(0.82, 1.0, 500)  # one label: no band, nothing to tell apart


def test_far_below_its_seed_counts_only_past_fifteen_points():
    near = {1: {"probe": 0.84, "a": 0.70, "b": 0.85}}  # 14.5 points below the median of the others (0.845)
    far = {1: {"probe": 0.84, "a": 0.69, "b": 0.85}}  # 15.5 points below
    assert collapse.find(near, 0.53, 500) == []
    [found] = collapse.find(far, 0.53, 500)
    assert found.why == CollapseKind.FAR_BELOW_SEED and found.reference == pytest.approx(0.845)
    assert "15.5% below its seed's other runs (84.5%)" in found.line()


def test_a_collapsed_probe_is_named_and_missing_runs_are_skipped():
    runs = {7: {"probe": 0.53, "a": 0.82, "b": None}}
    [found] = collapse.find(runs, 0.53, 500)
    assert found.adapter == "probe"


def test_ordinary_spread_is_no_collapse():
    runs = {s: {"probe": 0.82 + 0.01 * (s % 3), "a": 0.80 + 0.01 * (s % 4), "b": 0.79} for s in range(20)}
    assert collapse.find(runs, 0.53, 500) == []


@pytest.mark.parametrize("collapsed,runs", [(0, 32), (2, 32), (5, 64), (32, 32)])
def test_the_rate_interval_is_clopper_pearson(collapsed, runs):
    r = collapse.rate(collapsed, runs)
    # the exact interval's ends: each tail of the binomial at the end holds 2.5%
    if collapsed:
        assert binom.sf(collapsed - 1, runs, r.low) == pytest.approx(0.025, abs=1e-9)
    else:
        assert r.low == 0.0
    if collapsed < runs:
        assert binom.cdf(collapsed, runs, r.high) == pytest.approx(0.025, abs=1e-9)
    else:
        assert r.high == 1.0
    assert r.low <= collapsed / runs <= r.high


def test_rates_count_each_adapters_runs():
    found = collapse.find({1: {"probe": 0.83, "a": 0.53}, 2: {"probe": 0.82, "a": 0.81}}, 0.53, 500)
    rates = collapse.rates(found, ["probe", "a"], {"probe": 2, "a": 2})
    assert (rates["a"].collapsed, rates["a"].runs, rates["probe"].collapsed) == (1, 2, 0)
    assert rates["a"].line("a").startswith("a: 1 of 2 runs collapsed (50.0%, 95% interval")


def test_a_rate_of_no_runs_is_refused():
    with pytest.raises(ValueError):
        collapse.rate(0, 0)
