"""What every training of a seed starts from: the recipe (the params a training reads), the seed's base model made
once, and the jobs (adapters) to train on it."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from tqdm import tqdm

from rankcert.config.params import ModelParams, ProbeParams, RuntimeParams, TrainParams
from rankcert.inputs import padding
from rankcert.runtime.layout import PROBE
from rankcert.training import modeling
from rankcert.training.loop import LogRow


@dataclass(frozen=True)
class Job:
    """One adapter to train: its name ("probe" or a variant), its rank plan and per-module alphas."""

    name: str
    plan: dict[str, int]
    alphas: dict[str, float]

    def desc(self, label: str) -> str:
        """How its progress bar and timing line name it: the stage's label, then the variant."""
        return label if self.name == PROBE else f"{label}-{self.name}"


def job_bars(jobs: list[Job], label: str, steps: int) -> dict[str, tqdm]:
    """A progress bar per job trained at once, one line each."""
    return {job.name: tqdm(total=steps, desc=job.desc(label), file=sys.stderr, mininterval=2.0, leave=False,
                           position=n) for n, job in enumerate(jobs)}


@dataclass(frozen=True)
class Trained:
    """A job trained: its model, loss log, wall time (shared with the trainings beside it) and how many were."""

    job: Job
    model: torch.nn.Module
    log: list[LogRow]
    seconds: float
    together: int


@dataclass(frozen=True)
class Recipe:
    """The params sections a training reads: the base model, the training recipe, the probe's (dropout) and the
    runtime's (CUDA graphs, CPU threads). A stage sends it to the GPU trainer (rankcert.config.codec)."""

    model: ModelParams
    train: TrainParams
    probe: ProbeParams
    runtime: RuntimeParams

    @classmethod
    def of(cls, params) -> Recipe:
        """The recipe of rankcert.config.params.Params (or of a Recipe)."""
        return cls(params.model, params.train, params.probe, params.runtime)


class SharedBase:
    """The seed's base model, made once; `lora_model` wraps a weight-sharing copy as if it were built alone."""

    def __init__(self, params, seed: int):
        self.recipe, self.seed = Recipe.of(params), seed
        model = self.recipe.model
        self.pad = padding.pad_token(model.name, model.revision)  # what prepare padded with
        modeling.seed_everything(seed)  # before any weight exists: the head is initialised from the seed
        self.model = modeling.load_base_model(model, self.pad)
        self.rng = torch.get_rng_state()
        self.modules = modeling.target_module_names(self.model, model.target_modules)
        self.model_type = self.model.config.model_type

    def lora_model(self, job: Job) -> torch.nn.Module:
        torch.set_rng_state(self.rng)  # the LoRA init draws what it would draw in a build of its own
        return modeling.add_lora(modeling.frozen_copy(self.model), self.recipe.model, job.plan,
                                 self.recipe.probe.dropout, job.alphas)
