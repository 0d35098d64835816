"""A plan's rank arithmetic: energy ranks and the allowed rank at or above a count."""
import pytest

from rankcert.config import ranks


def test_energy_rank_edge_cases():
    assert ranks.energy_rank([0.0, 0.0], 0.9) == 0
    assert ranks.energy_rank([3.0, 1.0], 0.9) == 1  # 9/10 reaches 0.9 exactly
    assert ranks.energy_rank([1.0, 1.0, 1.0, 1.0], 1.0) == 4


@pytest.mark.parametrize("k,expected", [(0, 2), (1, 2), (2, 2), (3, 4), (9, 16), (17, 20), (21, 24), (25, 32), (40, 32)])
def test_round_up_rank(k, expected):
    assert ranks.round_up_rank(k, [2, 4, 8, 16, 20, 24, 32], cap=32) == expected


def test_round_up_rank_never_exceeds_probe_rank():
    assert ranks.round_up_rank(20, [2, 4, 8, 16, 20, 24, 32], cap=16) == 16
