import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from rankcert.config import ranks
from rankcert.runtime.errors import RankcertError
from rankcert.training import spectra


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
        assert ranks.energy_rank(ours, threshold) == k
    assert spectra.stable_rank(ours) == pytest.approx(sum(energy) / max(energy), rel=1e-9)


def test_adapter_spectra_are_each_modules_and_the_modules_must_be_the_planned_ones():
    g = torch.Generator().manual_seed(1)
    factors = {m: (torch.randn(4, 12, generator=g), torch.randn(10, 4, generator=g)) for m in ("q", "v")}
    found = spectra.adapter_spectra(factors, {"q": 2.0, "v": 0.5})
    assert [s.module for s in found] == ["q", "v"]
    assert found[1].singular_values == spectra.delta_singular_values(*factors["v"], 0.5)
    with pytest.raises(RankcertError, match="does not hold the expected LoRA modules"):
        spectra.adapter_spectra(factors, {"q": 2.0})


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
    assert ranks.energy_rank(s, threshold) == peft_k


@needs_peft_rule
def test_where_the_rules_differ():
    assert ranks.energy_rank([0.0, 0.0], 0.9) == 0  # a zero update: nothing to keep
    assert peft_conversion._find_cutoff_index(torch.tensor([0.0, 0.0]), 0.9) == 1


def test_stable_rank_of_a_zero_update_is_zero():
    assert spectra.stable_rank([]) == 0.0
