"""What compress makes of each variant of a seed: the job it trains (or is cut) as, its plan.json record
(records.RankPlan), and its run folder with that record inside."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

from rankcert.config import ranks, records
from rankcert.config.params import Params
from rankcert.config.records import TRUNCATED, RankPlan, Training
from rankcert.config.variants import PlanInputs, Variant
from rankcert.runtime.layout import LAYOUT, PLAN, PROBE
from rankcert.runtime.outputs import write_text
from rankcert.training import identity
from rankcert.training.base import Job, SharedBase
from rankcert.training.modeling import frozen_copy, load_adapter, lora_scales
from rankcert.training.runs import write_adapter_run


def job_of(variant: Variant, params: Params, modules: list[str], probe_spectra) -> Job:
    """The variant's rank plan (every target module named) and its alphas."""
    c = params.compress
    plan = variant.plan(PlanInputs(modules, probe_spectra, c.energy_threshold, c.allowed_ranks, params.probe.rank))
    return Job(variant.name, plan, {m: variant.alpha(r) for m, r in plan.items()})


def plan_record(variant: Variant, plan: dict[str, int], params: Params, probe_spectra) -> RankPlan:
    """plan.json: the ranks, and for a spectrum-read plan each module's energy rank at its threshold."""
    threshold = variant.energy_threshold(params.compress.energy_threshold)
    energy = {m: ranks.energy_rank(s, threshold) for m, s in probe_spectra.items()} if threshold else None
    return RankPlan(variant.name, variant.kind, plan, energy, threshold)


def write_variant_run(folder: Path, model, log, device, base: SharedBase, record: RankPlan, training: Training) -> None:
    """The variant's run folder (rankcert.training.runs) with the `training` its weights had, its plan.json `record` inside."""
    write_adapter_run(folder, record.variant, model, log, device, base.seed, base.model_type,
                      identity.base_model(base.recipe.model), base.pad, training,
                      extra=lambda run: write_text(run / PLAN, records.text(record)))


class ProbeCut(NamedTuple):
    """The seed's probe as its truncated variants are cut from it."""

    training: Training  # the training the cuts' weights come from (source truncated)
    scales: dict[str, float]  # module -> the scale PEFT applies to its B·A (the adapter's alpha/r, rsLoRA, patterns)


def probe_to_cut(seed: int, params: Params, base: SharedBase) -> ProbeCut:
    """The seed's probe, its run folder verified first: a cut is made from the probe's own weights, no others."""
    probe = identity.verified_run(LAYOUT.run(seed, PROBE), seed, PROBE, identity.base_model(params.model))
    scales = lora_scales(load_adapter(frozen_copy(base.model), LAYOUT.adapter(seed, PROBE)))
    return ProbeCut(dataclasses.replace(probe.training, source=TRUNCATED), scales)
