"""Trainings in flight together (rankcert.training.cohort), on the CPU: interleaved step by step they give the bytes
each gives alone, and a training that finds no memory waits for room instead of being lost."""
from __future__ import annotations

import pytest
import torch

from rankcert.config.params import params_from_dict
from rankcert.inputs import data
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT
from rankcert.training import cohort, cotrain
from rankcert.training.base import Job, SharedBase
from tests.helpers import prepare_seeds

CPU = torch.device("cpu")


@pytest.fixture
def seeds(tmp_path, raw_params, monkeypatch):
    """Two prepared seeds with dropout on (every step draws from the RNG); their bases and train data."""
    monkeypatch.chdir(tmp_path)
    params = params_from_dict(prepare_seeds(tmp_path, raw_params, (5, 6), steps=7, log_every=7))
    found = {}
    for seed in (5, 6):
        found[seed] = (SharedBase(params, seed), data.load_encoded(LAYOUT.prepared(seed) / "train.safetensors"))
    return found


def jobs_of(base: SharedBase, ranks=(4, 2, 8)) -> list[Job]:
    return [Job(f"uniform_r{r}", dict.fromkeys(base.modules, r), dict.fromkeys(base.modules, float(r))) for r in ranks]


def state(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def alone(base, job, train_set):
    """The job trained by itself in the eager loop, as a stage trains on the CPU."""
    (done,) = cotrain._fit_eager(base, [job], train_set, CPU, "alone")
    return state(done.model), [row.loss for row in done.log]


def run_cohort(flights_to_build, cap=0, fail_builds=()):
    """Admit every (owner, base, job, data) as room allows and tick to the end; the trained states by job name."""
    group, pending, done, builds = cohort.Cohort(CPU, cap, "test"), list(flights_to_build), {}, [0]

    def build(owner, base, job, train_set):
        builds[0] += 1
        if builds[0] in fail_builds:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return cohort.build_flight(owner, base, job, train_set, CPU)

    most = 0
    while pending or group:
        while pending and group.admit(lambda: build(*pending[0])):
            pending.pop(0)
        most = max(most, len(group))
        for flight in group.tick():
            done[(flight.owner, flight.job.name)] = (state(flight.model), flight.together)
    return done, most


def test_interleaved_trainings_of_two_seeds_are_the_bytes_each_gives_alone(seeds):
    wanted = [(seed, base, job, train_set) for seed, (base, train_set) in seeds.items() for job in jobs_of(base)]
    done, most = run_cohort(wanted)
    assert most == 6
    for seed, base, job, train_set in wanted:
        expected, _ = alone(base, job, train_set)
        assert same(done[(seed, job.name)][0], expected), (seed, job.name)
    first = done[(5, "uniform_r4")][0]
    assert not same(first, done[(6, "uniform_r4")][0])  # the seeds really differ


def test_out_of_memory_makes_a_training_wait_and_none_is_lost(seeds, capsys):
    base, train_set = seeds[5]
    wanted = [(5, base, job, train_set) for job in jobs_of(base)]
    done, most = run_cohort(wanted, fail_builds={2})  # the second build runs out of memory
    assert sorted(name for _, name in done) == ["uniform_r2", "uniform_r4", "uniform_r8"]
    assert most < 3 and "out of GPU memory with 1 trainings in flight; the next waits for one to end" in capsys.readouterr().err
    for _, _, job, _ in wanted:
        assert same(done[(5, job.name)][0], alone(base, job, train_set)[0]), job.name


def test_out_of_memory_alone_is_one_line_naming_what_to_lower(seeds):
    base, train_set = seeds[5]
    with pytest.raises(RankcertError, match=r"runs out of GPU memory even alone; lower train.batch_size"):
        run_cohort([(5, base, jobs_of(base)[0], train_set)], fail_builds={1})


def test_the_cap_bounds_the_trainings_in_flight(seeds):
    base, train_set = seeds[5]
    done, most = run_cohort([(5, base, job, train_set) for job in jobs_of(base)], cap=2)
    assert most == 2 and len(done) == 3
    assert max(together for _, together in done.values()) == 2
