"""The frontier: sizes against Δ, the SAFE Pareto front, the smallest SAFE variant, truncation beside retraining."""
import numpy as np
import pytest

from rankcert.certification import frontier, stats
from rankcert.certification.certificate import FrontierSummary
from rankcert.certification.verdict import Verdict
from rankcert.config.records import Evaluation
from rankcert.config.variants import parse_variant
from tests.helpers import rule

RULE = rule(bootstrap_resamples=1000)
N = 400


def seed_result(seed: int, delta_examples: int) -> stats.SeedResult:
    labels = np.ones(N, dtype=int)
    probe = labels.copy()
    probe[:60] = 0  # 85% right
    variant = probe.copy()
    if delta_examples < 0:
        variant[60:60 - delta_examples] = 0
    else:
        variant[:delta_examples] = 1
    return stats.seed_result(seed, labels, probe, variant, RULE)


def verdict(deltas: dict[str, list[int]]) -> Verdict:
    summaries = {name: stats.summarize(name, [seed_result(s, d) for s, d in enumerate(per_seed)], RULE)
                 for name, per_seed in deltas.items()}
    level = stats.Level("certifiable", [])
    return Verdict(True, [], level, {}, [], summaries, [], [], True, dict.fromkeys(deltas, 0.5),
                   {name: parse_variant(name) for name in deltas}, {}, {}, [], {})


def sizes(params: dict[str, int], seeds: int = 3) -> dict:
    """Evaluation records of each variant and seed with these sizes."""
    return {(s, name): Evaluation("a", "p", 0.8, 320, 400, n, 0.0) for name, n in params.items() for s in range(seeds)}


def test_points_are_sorted_by_size_and_only_undominated_safe_ones_are_pareto():
    v = verdict({"uniform_r2": [-40, -40, -40], "uniform_r8": [-4, -2, 0], "uniform_r16": [-2, -1, 0],
                 "per_layer_e99": [0, 2, 4], "uniform_r24": [-1, 0, 1]})
    found = frontier.points(v, sizes({"uniform_r2": 100, "uniform_r8": 400, "uniform_r16": 800, "per_layer_e99": 700,
                                      "uniform_r24": 1200}))
    assert [p.variant for p in found] == ["uniform_r2", "uniform_r8", "per_layer_e99", "uniform_r16", "uniform_r24"]
    assert {p.variant for p in found if p.pareto} == {"uniform_r8", "per_layer_e99"}
    assert not found[0].safe and not found[0].pareto
    assert frontier.smallest_safe(found).variant == "uniform_r8"
    assert frontier.smallest_safe_uniform_rank(v) == 8
    point = found[1]
    assert point.worst_delta == pytest.approx(-4 / N) and point.mean_delta == pytest.approx(-2 / N)
    assert point.ci_low <= point.worst_delta and point.ci_high >= 0


def test_truncation_gaps_pair_each_truncated_variant_with_its_retrained_one():
    v = verdict({"uniform_r8": [-4, -8, 0], "truncated_uniform_r8": [-10, -9, -2], "truncated_per_layer": [0, 0, 0],
                 "uniform_r16": [0, 0, 4], "truncated_uniform_r16": [0, -4, 8]})
    gaps = {g.variant: g for g in frontier.truncation_gaps(v)}
    assert set(gaps) == {"truncated_uniform_r8", "truncated_uniform_r16"}  # per_layer itself wasn't measured
    assert gaps["truncated_uniform_r8"].gaps == pytest.approx({0: -6 / N, 1: -1 / N, 2: -2 / N})
    largest, correlation = frontier.truncation_agreement(v)
    assert largest == pytest.approx(6 / N)
    truncated = [-10, -9, -2, 0, -4, 8]
    retrained = [-4, -8, 0, 0, 0, 4]
    assert correlation == pytest.approx(np.corrcoef(truncated, retrained)[0, 1])


def test_two_pairs_give_no_correlation():
    v = verdict({"uniform_r8": [-4, 0], "truncated_uniform_r8": [-10, 2]})
    assert frontier.truncation_agreement(v) == (pytest.approx(6 / N), None)


def test_the_summary_names_the_smallest_safe_variant_and_counts_the_safe_ones():
    v = verdict({"uniform_r4": [-40, -40, -40], "uniform_r16": [0, 0, 0]})
    found = frontier.summary(v, sizes({"uniform_r4": 200, "uniform_r16": 800}))
    assert found == FrontierSummary(smallest_safe_uniform_rank=16, smallest_safe_parameters=800.0,
                                    smallest_safe_variant="uniform_r16", safe_variants=1, pareto_safe_variants=1,
                                    truncation_largest_gap=None, truncation_correlation=None)
