"""Stage compress (per seed): every variant of the seed, planned from the probe's spectra; retrained variants
train together on one device (rankcert.cotrain), truncated ones cut the probe's update to their plan.

The seed's variants are one output folder, replaced whole only when every variant is done: a variant that
fails fails the stage, and DVC keeps the previous outputs.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from rankcert import data, identity, spectra
from rankcert.cotrain import Job, SharedBase, fit_all
from rankcert.errors import run_main
from rankcert.layout import LAYOUT, PROBE
from rankcert.modeling import frozen_copy, lease_device, load_adapter, lora_scales
from rankcert.outputs import atomic_dir, write_json
from rankcert.params import Params, load_params
from rankcert.results import read_spectra
from rankcert.runs import write_adapter_run, write_timing
from rankcert.text import rank_summary
from rankcert.truncation import load_truncated
from rankcert.variants import PlanInputs, Variant


def job_of(variant: Variant, params: Params, modules: list[str], probe_spectra) -> Job:
    """The variant's rank plan (every target module named) and its alphas."""
    c = params.compress
    plan = variant.plan(PlanInputs(modules, probe_spectra, c.energy_threshold, c.allowed_ranks, params.probe.rank))
    return Job(variant.name, plan, {m: variant.alpha(r) for m, r in plan.items()})


def plan_record(variant: Variant, plan: dict[str, int], params: Params, probe_spectra) -> dict:
    """plan.json: the ranks, and for a spectrum-read plan each module's energy rank at its threshold."""
    threshold = variant.energy_threshold(params.compress.energy_threshold)
    energy = {m: spectra.energy_rank(s, threshold) for m, s in probe_spectra.items()} if threshold else None
    return {"variant": variant.name, "kind": variant.kind, "ranks": plan, "energy_ranks": energy,
            "energy_threshold": threshold}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    seed, label = args.seed, f"compress@{args.seed}"
    variants = params.variants
    probe_spectra = read_spectra(LAYOUT.probe(seed) / "spectra.json") if any(v.needs_spectra for v in variants) else None
    retrained = [v for v in variants if v.retrained]
    print(f"[{label}] {len(retrained)} retrained from scratch (alpha = r), {len(variants) - len(retrained)} truncated: "
          + ", ".join(v.name for v in variants), flush=True)
    device = lease_device(params.runtime.device, label)
    train_data = data.load_encoded(LAYOUT.prepared(seed) / "train.safetensors", params.model.name) if retrained else None
    base = SharedBase(params, seed)
    jobs = {v.name: job_of(v, params, base.modules, probe_spectra) for v in variants}
    records = {v.name: plan_record(v, jobs[v.name].plan, params, probe_spectra) for v in variants}
    truncated = [v for v in variants if not v.retrained]
    if truncated:  # they cut the probe's own weights, no others: checked before any training
        identity.verified_run(LAYOUT.run(seed, PROBE), seed, PROBE, identity.base_model(params.model))
        # ΔW = scale·B·A at the scale PEFT applies to each module (an imported adapter's alpha/r, rsLoRA, patterns)
        scales = lora_scales(load_adapter(frozen_copy(base.model), LAYOUT.adapter(seed, PROBE)))
    with atomic_dir(LAYOUT.variants(seed)) as scratch:
        for trained in fit_all(base, [jobs[v.name] for v in retrained], train_data, device, label):
            name = trained.job.name
            write_timing(f"{label}-{name}", trained.seconds, params.train.steps, device, trained.together)
            _write(scratch / name, trained.model, trained.log, device, base, records[name])
        for variant in truncated:
            job = jobs[variant.name]
            model = base.lora_model(job)
            load_truncated(model, job.plan, LAYOUT.adapter(seed, PROBE), scales)
            print(f"[{label}-{variant.name}] truncated the probe's update by SVD, no training", flush=True)
            _write(scratch / variant.name, model, [], torch.device("cpu"), base, records[variant.name])  # a CPU SVD
    for variant in variants:
        print(f"[{label}-{variant.name}] plan: {rank_summary(jobs[variant.name].plan)}", flush=True)


def _write(folder: Path, model, log, device, base: SharedBase, record: dict) -> None:
    """The variant's run folder, its plan.json inside."""
    write_adapter_run(folder, record["variant"], model, log, device, base.seed, base.model_type,
                      identity.base_model(base.params.model), base.pad,
                      extra=lambda run: write_json(run / "plan.json", record))


if __name__ == "__main__":
    run_main(main)
