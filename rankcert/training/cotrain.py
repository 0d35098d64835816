"""A seed's adapters trained as its stage asks: on a GPU with runtime.cuda_graphs, by the GPU trainer beside other
seeds' (rankcert.training.trainer_service), or in the stage's own cohort when the trainer is off or can't start;
elsewhere one after another in the eager loop (resumable). The bytes are the same on every route of a device.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import torch

from rankcert.inputs.data import Encoded
from rankcert.runtime import settings
from rankcert.runtime.services import ServiceUnavailable
from rankcert.training.base import Job, SharedBase, Trained, job_bars
from rankcert.training.checkpoint import Checkpoint, run_key
from rankcert.training.cohort import Cohort, build_flight, free_memory, losses_of
from rankcert.training.loop import check_finite, checked_log, train
from rankcert.training.trainer_client import connect_to_trainer, fit_on_trainer


def fit_all(base: SharedBase, jobs: list[Job], data: Encoded, device: torch.device, label: str) -> Iterator[Trained]:
    """Train every job; yield each as it finishes."""
    graphed = device.type == "cuda" and base.recipe.runtime.cuda_graphs  # read on any device: declared params
    mode = settings.trainer_mode()
    if (graphed and mode != "off") or (device.type == "cpu" and mode == "all"):
        try:
            channel = connect_to_trainer(device)
        except (ServiceUnavailable, OSError) as err:
            print(f"[{label}] GPU trainer unavailable ({err}); training in this stage", file=sys.stderr, flush=True)
        else:
            yield from fit_on_trainer(channel, base, jobs, data, label)
            return
    if graphed:
        yield from fit_in_cohort(base, jobs, data, device, label)
        return
    yield from _fit_eager(base, jobs, data, device, label)


def fit_in_cohort(base: SharedBase, jobs: list[Job], data: Encoded, device: torch.device,
                  label: str) -> Iterator[Trained]:
    """The jobs in flight together on `device` (RANKCERT_CONCURRENT_TRAININGS caps how many); a job that finds no
    GPU memory waits for one in flight to end."""
    cohort, pending = Cohort(device, settings.concurrent_trainings(), label), list(jobs)
    recipe = base.recipe.train
    bars = job_bars(jobs, label, recipe.steps)
    while pending or cohort:
        while pending and cohort.admit(lambda: build_flight(None, base, pending[0], data, device)):
            pending.pop(0)
        finished = cohort.tick()
        for flight in cohort.flights + finished:
            bars[flight.job.name].update(flight.finished - bars[flight.job.name].n)
        for flight in finished:
            bars[flight.job.name].close()
            log = checked_log(flight.job.name, losses_of(flight), recipe, label)
            yield Trained(flight.job, flight.model, log, flight.seconds(), flight.together)
            if pending:
                free_memory(device)
        if not cohort.launched:
            time.sleep(0.0005)  # every training is a lookahead ahead of the device


def _fit_eager(base: SharedBase, jobs: list[Job], data: Encoded, device: torch.device,
               label: str) -> Iterator[Trained]:
    """One after another in the eager loop (training.train); on the CPU, resumable from checkpoints."""
    recipe, every = base.recipe.train, settings.checkpoint_every()
    for job in jobs:
        model = base.lora_model(job)
        if device.type == "cuda":
            torch.cuda.manual_seed(base.seed)  # the CUDA state it would have alone
        checkpoint = Checkpoint(f"{label}-{job.name}", run_key(base.recipe.model, recipe, base.recipe.probe, base.seed,
                                                                 job.plan), every) if every else None
        started = time.perf_counter()
        log = train(model, data, recipe, base.seed, device, job.desc(label), checkpoint)
        check_finite(job.name, [row.loss for row in log], recipe.log_every, label)
        yield Trained(job, model, log, time.perf_counter() - started, 1)
