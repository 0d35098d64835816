import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from rankcert import spectra
from rankcert.errors import RankcertError
from rankcert.params import Variant, parse_variant


@pytest.mark.parametrize("rank,out_dim,in_dim,scale", [(32, 96, 80, 1.0), (8, 40, 64, 2.5), (4, 16, 16, 0.5)])
def test_singular_values_match_direct_svd_of_scaled_product(rank, out_dim, in_dim, scale):
    g = torch.Generator().manual_seed(rank)
    a, b = torch.randn(rank, in_dim, generator=g), torch.randn(out_dim, rank, generator=g)
    direct = torch.linalg.svdvals(scale * b.double() @ a.double())[:rank].tolist()
    ours = spectra.delta_singular_values(a, b, scale)
    assert ours == pytest.approx(direct, rel=1e-9, abs=1e-9)


def test_energy_and_stable_rank_match_definitions_on_random_factors():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 50, generator=g), torch.randn(60, 16, generator=g) * torch.logspace(0, -2, 16)
    s = torch.linalg.svdvals(b.double() @ a.double()).tolist()
    ours = spectra.delta_singular_values(a, b, 1.0)
    energy = [x * x for x in s]
    for threshold in (0.5, 0.9, 0.99, 1.0):
        k = next(k for k in range(1, len(s) + 1) if sum(energy[:k]) / sum(energy) >= threshold - 1e-12)
        assert spectra.energy_rank(ours, threshold) == k
    assert spectra.stable_rank(ours) == pytest.approx(sum(energy) / max(energy), rel=1e-9)


def test_energy_rank_edge_cases():
    assert spectra.energy_rank([0.0, 0.0], 0.9) == 0
    assert spectra.energy_rank([3.0, 1.0], 0.9) == 1  # 9/10 reaches 0.9 exactly
    assert spectra.energy_rank([1.0, 1.0, 1.0, 1.0], 1.0) == 4
    assert spectra.stable_rank([]) == 0.0


@pytest.mark.parametrize("k,expected", [(0, 2), (1, 2), (2, 2), (3, 4), (9, 16), (17, 20), (21, 24), (25, 32), (40, 32)])
def test_round_up_rank(k, expected):
    assert spectra.round_up_rank(k, [2, 4, 8, 16, 20, 24, 32], cap=32) == expected


def test_round_up_rank_never_exceeds_probe_rank():
    assert spectra.round_up_rank(20, [2, 4, 8, 16, 20, 24, 32], cap=16) == 16


def test_per_layer_plan_names_every_module_including_the_most_common_rank():
    modules = [f"layer.{i}.attention.{m}" for i in range(6) for m in ("q_lin", "k_lin", "v_lin", "out_lin")]
    found = {m: [1.0] + [0.0] * 31 for m in modules}  # energy rank 1 everywhere -> rank 2 everywhere
    found[modules[5]] = [1.0] * 32  # needs all 32
    plan = spectra.rank_plan(Variant("per_layer", "per_layer"), modules, found, 0.9, [2, 4, 8, 16, 20, 24, 32], 32)
    assert list(plan) == modules
    assert plan[modules[5]] == 32
    assert sum(r == 2 for r in plan.values()) == 23
    assert math.isclose(sum(plan.values()) / len(plan), (23 * 2 + 32) / 24)


def test_a_named_threshold_overrides_the_param_and_truncation_uses_its_base_plan():
    found = {"a": [3.0, 1.0, 1.0, 0.5], "b": [1.0, 0.0, 0.0, 0.0]}  # a: σ² 9, 1, 1, 0.25 of 11.25
    allowed = [1, 2, 3, 4]
    assert spectra.rank_plan(parse_variant("per_layer"), ["a", "b"], found, 0.8, allowed, 4) == {"a": 1, "b": 1}
    assert spectra.rank_plan(parse_variant("per_layer_e95"), ["a", "b"], found, 0.8, allowed, 4) == {"a": 3, "b": 1}
    assert spectra.rank_plan(parse_variant("truncated_per_layer_e95"), ["a", "b"], found, 0.8, allowed, 4) == {
        "a": 3, "b": 1}
    assert spectra.rank_plan(parse_variant("truncated_uniform_r2"), ["a"], None, 0.8, allowed, 4) == {"a": 2}


def test_uniform_plan_and_missing_spectra():
    plan = spectra.rank_plan(Variant("uniform_r20", "uniform", 20), ["a", "b"], None, 0.9, [2, 20], 32)
    assert plan == {"a": 20, "b": 20}
    with pytest.raises(RankcertError, match="lack modules"):
        spectra.rank_plan(Variant("per_layer", "per_layer"), ["a", "b"], {"a": [1.0]}, 0.9, [2], 32)


# Cross-check with PEFT's energy rule (peft.tuners.lora.conversion, used by convert_to_lora with a float rank):
# the smallest k whose top-k singular values hold >= threshold of the energy. Ours adds a 1e-12 tolerance so a
# float sum a hair under an exactly-reached threshold still counts, and gives 0 (not 1) for a zero update.
try:
    from peft.tuners.lora import conversion as peft_conversion
except ImportError:  # PEFT before 0.19 has no conversion module
    peft_conversion = None
needs_peft_rule = pytest.mark.skipif(peft_conversion is None, reason="this PEFT has no energy-threshold rule")


@needs_peft_rule
@given(st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=40),
       st.floats(min_value=0.05, max_value=0.999))
def test_energy_rank_equals_peft_away_from_exact_ties(values, threshold):
    s = sorted(values, reverse=True)
    energies = torch.tensor(s, dtype=torch.float64) ** 2
    shares = torch.cumsum(energies, 0) / energies.sum()
    assume(bool((shares - threshold).abs().min() > 1e-9))  # exact ties are where the tolerance decides
    peft_k = peft_conversion._find_cutoff_index(torch.tensor(s, dtype=torch.float64), threshold)
    assert spectra.energy_rank(s, threshold) == peft_k


@needs_peft_rule
def test_where_the_rules_differ():
    assert spectra.energy_rank([0.0, 0.0], 0.9) == 0  # a zero update: nothing to keep
    assert peft_conversion._find_cutoff_index(torch.tensor([0.0, 0.0]), 0.9) == 1
