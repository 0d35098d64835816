"""Stage compress (per seed): every variant of the seed, planned from the probe's spectra; retrained variants
train together on one device (rankcert.cotrain), truncated ones cut the probe's update to their plan.

The seed's variants are one output folder, replaced whole only when every variant is done: a variant that
fails fails the stage, and DVC keeps the previous outputs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from rankcert import data, identity
from rankcert.compression import job_of, plan_record, write_variant_run
from rankcert.cotrain import SharedBase, fit_all
from rankcert.harness import per_seed, run_main
from rankcert.layout import LAYOUT, PROBE
from rankcert.modeling import lease_device
from rankcert.outputs import atomic_dir
from rankcert.results import read_spectra
from rankcert.runs import write_timing
from rankcert.text import rank_summary
from rankcert.truncation import load_truncated


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("compress", __doc__, argv)
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
    with atomic_dir(LAYOUT.variants(seed)) as scratch:
        for trained in fit_all(base, [jobs[v.name] for v in retrained], train_data, device, label):
            name = trained.job.name
            write_timing(f"{label}-{name}", trained.seconds, params.train.steps, device, trained.together)
            write_variant_run(scratch / name, trained.model, trained.log, device, base, records[name])
        for variant in truncated:
            job = jobs[variant.name]
            model = base.lora_model(job)
            load_truncated(model, job.plan, LAYOUT.adapter(seed, PROBE), params.probe.alpha / params.probe.rank)
            print(f"[{label}-{variant.name}] truncated the probe's update by SVD, no training", flush=True)
            write_variant_run(scratch / variant.name, model, [], torch.device("cpu"), base, records[variant.name])  # a CPU SVD
    for variant in variants:
        print(f"[{label}-{variant.name}] plan: {rank_summary(jobs[variant.name].plan)}", flush=True)


if __name__ == "__main__":
    run_main(main)
