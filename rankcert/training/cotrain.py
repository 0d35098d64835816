"""A seed's adapters trained together: one frozen base model in memory, each adapter its own LoRA factors,
optimizer and step. On CUDA (with runtime.cuda_graphs) each step is a captured graph replayed on its own stream,
launched in turn from one thread, so several trainings keep the GPU busy; elsewhere they train one after another.

An adapter's result never depends on its neighbours: its LoRA factors start from the random state right after
the base model was made (as if it were built alone), its CPU training starts from the state its own build
left, and on CUDA its dropout draws from a generator state of its own, seeded as it would be alone (graphs of
different models replayed in one process would otherwise share the default generator's offset).
"""
from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from tqdm import tqdm

from rankcert.config.params import Params
from rankcert.inputs import padding
from rankcert.inputs.data import Encoded
from rankcert.runtime import settings
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import PROBE
from rankcert.training import modeling
from rankcert.training.checkpoint import Checkpoint, run_key
from rankcert.training.loop import GraphedStep, LogRow, batch_order, loss_log, lr_schedule, train

MEMORY_HEADROOM = 0.85  # of the free GPU memory, for the estimate of how many trainings fit at once


@dataclass(frozen=True)
class Job:
    """One adapter to train: its name ("probe" or a variant), its rank plan and per-module alphas."""

    name: str
    plan: dict[str, int]
    alphas: dict[str, float]


@dataclass(frozen=True)
class Trained:
    job: Job
    model: torch.nn.Module
    log: list[LogRow]
    seconds: float  # wall time of its training (shared with the trainings it ran beside)
    together: int  # how many trained at once


class SharedBase:
    """The seed's base model, made once; `lora_model` wraps a weight-sharing copy as if it were built alone."""

    def __init__(self, params: Params, seed: int):
        self.params, self.seed = params, seed
        self.pad = padding.pad_token(params.model.name, params.model.revision)  # what prepare padded with
        modeling.seed_everything(seed)  # before any weight exists: the head is initialised from the seed
        self.model = modeling.load_base_model(params.model, self.pad)
        self.rng = torch.get_rng_state()
        self.modules = modeling.target_module_names(self.model, params.model.target_modules)
        self.model_type = self.model.config.model_type

    def lora_model(self, job: Job) -> torch.nn.Module:
        torch.set_rng_state(self.rng)  # the LoRA init draws what it would draw in a build of its own
        return modeling.add_lora(modeling.frozen_copy(self.model), self.params.model, job.plan,
                                 self.params.probe.dropout, job.alphas)


def fit_all(base: SharedBase, jobs: list[Job], data: Encoded, device: torch.device, label: str) -> Iterator[Trained]:
    """Train every job; yield each as it finishes. On CUDA with runtime.cuda_graphs, in waves of graphed trainings
    at once (the only graphed path); otherwise one by one in the eager loop (training.train), resumable."""
    recipe, graphs = base.params.train, base.params.runtime.cuda_graphs  # read on any device: declared params
    if device.type == "cuda" and graphs:
        yield from _fit_on_gpu(base, jobs, data, device, label)
        return
    every = settings.checkpoint_every()
    for job in jobs:
        model = base.lora_model(job)
        if device.type == "cuda":
            torch.cuda.manual_seed(base.seed)  # the CUDA state it would have alone
        checkpoint = Checkpoint(f"{label}-{job.name}", run_key(base.params.model, recipe, base.params.probe, base.seed,
                                                                 job.plan), every) if every else None
        started = time.perf_counter()
        log = train(model, data, recipe, base.seed, device, _desc(label, job), checkpoint)
        _check_finite(job, [row.loss for row in log], recipe.log_every, label)
        yield Trained(job, model, log, time.perf_counter() - started, 1)


def _fit_on_gpu(base: SharedBase, jobs: list[Job], data: Encoded, device: torch.device, label: str) -> Iterator[Trained]:
    """Waves of concurrent trainings: as many as fit (RANKCERT_CONCURRENT_TRAININGS caps it); on running out of
    memory, the wave is retried with half as many, down to one."""
    pending, at_once = list(jobs), settings.concurrent_trainings() or len(jobs)
    while pending:
        wave = pending[:at_once]
        try:
            done = _train_wave(base, wave, data, device, label)
        except torch.cuda.OutOfMemoryError as err:
            _free_gpu_memory()
            if len(wave) == 1:
                raise RankcertError(f"[{label}] {wave[0].name} runs out of GPU memory even trained alone; lower "
                                    "train.batch_size or model.max_length, or use a larger GPU") from err
            at_once = max(1, len(wave) // 2)
            print(f"[{label}] out of GPU memory with {len(wave)} trainings at once; retrying with {at_once}",
                  file=sys.stderr, flush=True)
            continue
        pending = pending[len(done):]
        yield from done
        del done
        if pending:  # a full collection costs about 0.3 s in a process this size: only when a wave follows
            _free_gpu_memory()


def _train_wave(base: SharedBase, wave: list[Job], data: Encoded, device: torch.device, label: str) -> list[Trained]:
    recipe, seed = base.params.train, base.seed
    order = batch_order(len(data), recipe.steps, recipe.batch_size, seed)
    torch.cuda.init()  # the default generators exist once CUDA is initialised
    generator = torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
    default_state = generator.graphsafe_get_state()
    models, steps, states = [], [], []
    free_before = torch.cuda.mem_get_info(device)[0]
    try:
        while len(steps) < len(wave):
            job = wave[len(steps)]
            model = base.lora_model(job).to(device).train()
            # its own generator state, seeded as it would be alone: the warm-up draws from it and the captured
            # graph registers it, so each replay advances this training's offset and no other's
            states.append(generator.clone_state().manual_seed(seed))
            generator.graphsafe_set_state(states[-1])
            steps.append(GraphedStep(model, data, order, recipe, device))  # captured on a stream of its own
            models.append(model)
            if len(steps) == 1 and len(wave) > 1:  # the first one's footprint says how many fit beside it
                wave = wave[:1 + _more_that_fit(free_before, device, len(wave) - 1, label)]
    finally:
        generator.graphsafe_set_state(default_state)
    warmup, lrs = lr_schedule(recipe)
    losses = [torch.zeros(recipe.steps, device=device) for _ in wave]
    for step in steps:
        step.stream.wait_stream(torch.cuda.current_stream())
    bars = [tqdm(total=recipe.steps, desc=_desc(label, job), file=sys.stderr, mininterval=2.0, leave=False,
                 position=n) for n, job in enumerate(wave)]
    started = time.perf_counter()
    for i in range(recipe.steps):
        for step, loss in zip(steps, losses):
            with torch.cuda.stream(step.stream):
                loss[i] = step(i, lrs[i])
        if (i + 1) % recipe.log_every == 0 or i + 1 == recipe.steps:
            for bar in bars:
                bar.update(i + 1 - bar.n)
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    for bar in bars:
        bar.close()
    done = []
    for job, model, loss in zip(wave, models, losses):
        values = loss.cpu().tolist()
        _check_finite(job, values, 1, label)
        done.append(Trained(job, model, loss_log(values, recipe, warmup), seconds, len(wave)))
    return done


def _more_that_fit(free_before: int, device: torch.device, wanted: int, label: str) -> int:
    """After one training is built and captured: how many more fit in the free memory (at most `wanted`)."""
    free_now = torch.cuda.mem_get_info(device)[0]
    one = max(1, free_before - free_now)
    fit = min(wanted, int(free_now * MEMORY_HEADROOM) // one)
    if fit < wanted:
        print(f"[{label}] GPU memory fits {fit + 1} trainings at once (about {one / 2**20:.0f} MiB each); "
              "the rest train after them", file=sys.stderr, flush=True)
    return fit


def _check_finite(job: Job, losses: list[float], every: int, label: str) -> None:
    bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
    if bad is not None:
        raise RankcertError(f"[{label}] {job.name} diverged: its training loss is {losses[bad]} by step "
                            f"{(bad + 1) * every}; lower train.lr (the stage keeps its previous outputs)")


def _free_gpu_memory() -> None:
    gc.collect()
    torch.cuda.empty_cache()


def _desc(label: str, job: Job) -> str:
    return label if job.name == PROBE else f"{label}-{job.name}"
