"""The population verdict: its boundaries exact, its error rates held, checked by simulating the procedure as certify
runs it under named truths (rankcert.certification.truths; docs/population.md)."""
import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom

from rankcert.certification import population, truths
from rankcert.config import codec
from rankcert.config.params import PopulationParams, load_params
from rankcert.runtime.errors import RankcertError

TOL, SHARE, CONFIDENCE, ALPHA = 0.025, 0.90, 0.95, 0.05
DEFAULT = load_params("params.yaml").certify.population
RUNS = 2000


def rule(looks=None, spending=None):
    return PopulationParams(SHARE, list(looks or DEFAULT.looks), spending or DEFAULT.spending)


def _brute(looks, pi, d):
    """P(SAFE), P(UNSAFE) by enumerating every pass/fail sequence of the last look's length."""
    safe = unsafe = 0.0
    for bits in itertools.product((0, 1), repeat=looks[-1]):
        chance = math.prod(pi if b else 1 - pi for b in bits)
        for k, a, b in zip(looks, d.safe, d.unsafe):
            s = sum(bits[:k])
            if s >= a:
                safe += chance
                break
            if s <= b:
                unsafe += chance
                break
    return safe, unsafe


@pytest.mark.parametrize("looks,spending", [((3, 6, 10), "linear"), ((4, 8, 12), "pocock"), ((5, 12), "obrien-fleming")])
def test_the_dynamic_programme_matches_brute_force_enumeration(looks, spending):
    d = population.design(looks, 0.7, 0.9, spending)
    for pi in (0.5, 0.7, 0.9):
        safe, unsafe, _ = population.operating(d, pi)
        assert (safe, unsafe) == pytest.approx(_brute(looks, pi, d), abs=1e-12)


def test_each_side_spends_no_more_than_its_budget_and_is_the_most_permissive():
    looks = tuple(DEFAULT.looks)
    d = population.design(looks, SHARE, CONFIDENCE, DEFAULT.spending)
    budget = [population.spent_by(DEFAULT.spending, k / looks[-1], ALPHA) for k in looks]
    assert all(s <= b for s, b in zip(d.spent_safe, budget)) and all(s <= b for s, b in zip(d.spent_unsafe, budget))
    assert d.spent_safe[-1] > 0.04  # little of α is lost to discreteness
    one_lower = population._side(looks, SHARE, budget, upper=True)  # the boundaries themselves: one count less breaks
    for j in range(len(looks)):
        if d.safe[j] <= looks[j]:
            tighter = list(d.safe)
            tighter[j] -= 1
            assert _crossing(looks, tighter, SHARE)[j] > budget[j]
    assert one_lower[0] == d.safe


def _crossing(looks, safe, pi):
    """Cumulative chance of a SAFE crossing by each look, SAFE-side stopping only."""
    alive, before, crossed, out = np.ones(1), 0, 0.0, []
    for k, a in zip(looks, safe):
        alive = np.convolve(alive, binom.pmf(np.arange(k - before + 1), k - before, pi))
        crossed += alive[a:].sum()
        alive[a:] = 0
        out.append(crossed)
        before = k
    return out


def test_safe_is_impossible_before_the_all_pass_count_and_reached_by_it():
    d = population.design(tuple(DEFAULT.looks), SHARE, CONFIDENCE, DEFAULT.spending)
    first = next(k for k, a in zip(d.looks, d.safe) if a <= k)
    assert SHARE**first <= population.spent_by(DEFAULT.spending, first / d.looks[-1], ALPHA)
    assert first >= population_needed(SHARE, CONFIDENCE)


def population_needed(share, confidence):
    return math.ceil(math.log(1 - confidence) / math.log(share))  # 29: all pass, one look, no spending


@pytest.mark.parametrize("spending", ["pocock", "linear", "quadratic", "obrien-fleming"])
def test_false_safe_is_at_most_alpha_at_the_boundary_and_below_and_false_unsafe_at_and_above(spending):
    d = population.design(tuple(DEFAULT.looks), SHARE, CONFIDENCE, spending)
    grid = np.linspace(0.5, 1.0, 51)
    rates = [population.operating(d, pi) for pi in grid]
    safe = [r[0] for r in rates]
    unsafe = [r[1] for r in rates]
    assert safe == sorted(safe) and unsafe == sorted(unsafe, reverse=True)  # monotone in the true share
    assert population.operating(d, SHARE)[0] <= ALPHA and population.operating(d, SHARE)[1] <= ALPHA


def test_the_lower_bound_agrees_with_the_verdict_and_lies_in_zero_one():
    rng = np.random.default_rng(5)
    for pi in (0.6, 0.9, 0.97, 1.0):
        for _ in range(20):
            got = population.judge(list(np.where(rng.random(64) < pi, 0.0, -0.1)), rule(), TOL, CONFIDENCE)
            assert 0.0 <= got.lower <= 1.0
            assert (got.lower >= SHARE) == (got.verdict == population.SAFE)


def test_the_lower_bound_covers_the_true_share_exactly_computed_over_the_procedure():
    """P(lower bound > π) summed exactly over where the procedure stops, for true shares π across [0.3, 1)."""
    d = population.design(tuple(DEFAULT.looks), SHARE, CONFIDENCE, DEFAULT.spending)
    for pi in np.linspace(0.3, 0.995, 15):
        alive, before, wrong = np.ones(1), 0, 0.0
        for j, (k, a, b) in enumerate(zip(d.looks, d.safe, d.unsafe)):
            alive = np.convolve(alive, binom.pmf(np.arange(k - before + 1), k - before, pi))
            stops = [s for s in range(k + 1) if s >= a or s <= b or j == len(d.looks) - 1]
            wrong += sum(alive[s] for s in stops if population.lower_bound(d, j, s, CONFIDENCE, DEFAULT.spending) > pi)
            alive[a:], alive[:b + 1], before = 0, 0, k
        assert wrong <= ALPHA


def test_a_failed_or_missing_seed_is_a_failed_run_and_settles_nothing_by_itself():
    deltas = [0.0] * 40
    assert population.judge(deltas, rule(), TOL, CONFIDENCE).verdict == population.SAFE
    one_gone = [None] + [0.0] * 39
    got = population.judge(one_gone, rule(), TOL, CONFIDENCE)
    assert got.passed == 39 and got.verdict == population.UNSETTLED  # a collapsed probe costs seeds, blocks nothing
    got = population.judge(one_gone + [0.0] * 16, rule(), TOL, CONFIDENCE)
    assert got.verdict == population.SAFE and got.seeds == 56
    assert population.judge([-0.3] * 8, rule(), TOL, CONFIDENCE).verdict == population.UNSAFE


def test_the_report_figures_are_the_boundaries_used_and_the_exact_error_spent():
    got = population.judge([0.0] * 40, rule(), TOL, CONFIDENCE)
    d = population.design(tuple(DEFAULT.looks[:5]) + tuple(DEFAULT.looks[5:]), SHARE, CONFIDENCE, DEFAULT.spending)
    assert [(x.seeds, x.safe_at, x.unsafe_at) for x in got.looks] == list(zip(d.looks, d.safe, d.unsafe))[:len(got.looks)]
    assert got.confidence_spent == d.spent_safe[got.looks_used - 1] <= ALPHA


def test_a_run_between_looks_replaces_the_next_look():
    assert population.plan((8, 16, 32), 5) == (5, 16, 32)
    assert population.plan((8, 16, 32), 16) == (8, 16, 32)
    assert population.plan((8, 16, 32), 20) == (8, 16, 20)


@pytest.mark.parametrize("truth", truths.boundary_truths(SHARE), ids=lambda t: t.name)
def test_false_safe_holds_for_every_boundary_truth_simulated_as_certify_runs_it(truth):
    got = truths.run(truth, rule(), TOL, CONFIDENCE, np.random.default_rng(hash(truth.name) % 2**32), RUNS,
                     per_example=False)
    bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)
    assert got["SAFE"] <= bound
    assert got["UNSAFE"] <= bound  # the claim holds at the boundary: an UNSAFE is false too
    assert abs(got["observed_share"] - truths.pass_share(truth, truths.centre(truth, TOL), TOL)) < 0.004


@pytest.mark.parametrize("truth", truths.safe_truths(SHARE), ids=lambda t: t.name)
def test_false_unsafe_holds_for_the_safe_truths(truth):
    got = truths.run(truth, rule(), TOL, CONFIDENCE, np.random.default_rng(11), RUNS, per_example=False)
    assert got["UNSAFE"] <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)
    d = population.design(tuple(DEFAULT.looks), SHARE, CONFIDENCE, DEFAULT.spending)
    assert got["SAFE"] == pytest.approx(population.operating(d, truth.share)[0], abs=4 * math.sqrt(0.25 / RUNS))


def test_per_example_and_count_draws_give_the_same_deltas():
    truth = truths.Truth("mixed", SHARE, scale=0.004, collapsed=0.05)
    a = truths.deltas(truth, TOL, np.random.default_rng(1), 60, 64, per_example=True)
    b = truths.deltas(truth, TOL, np.random.default_rng(2), 60, 64, per_example=False)
    assert np.isnan(a).mean() == pytest.approx(np.isnan(b).mean(), abs=0.02)
    assert np.nanmean(a) == pytest.approx(np.nanmean(b), abs=0.002) and np.nanstd(a) == pytest.approx(np.nanstd(b), rel=0.1)
    assert np.all(np.round(a[~np.isnan(a)] * truths.EXAMPLES, 9) % 1 == 0)  # Δs are multiples of 1/500


def test_the_verdict_hardly_depends_on_the_seed_order_for_any_pool_of_the_last_look():
    """Over every ordering of a pool of 64 seeds, exactly: the share of orderings with the rarer of SAFE and UNSAFE
    (a pool's verdict law over orderings depends only on how many of its seeds fail)."""
    d = population.design(tuple(DEFAULT.looks), SHARE, CONFIDENCE, DEFAULT.spending)
    assert max(min(population.order_shares(d, failed)) for failed in range(d.looks[-1] + 1)) <= 0.05




@pytest.mark.parametrize("spending,looks,message", [
    ("calibrated", [8, 16], "certify.population.spending"),
    ("pocock", [8, 8], "increasing"),
    ("pocock", [8, 300], "200 seeds")])
def test_invalid_spending_or_looks_are_refused_with_one_line(spending, looks, message):
    with pytest.raises(RankcertError, match=message) as found:
        codec.load(PopulationParams, {"share": SHARE, "looks": looks, "spending": spending}, "certify.population")
    assert "\n" not in str(found.value)
