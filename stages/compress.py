"""Stage compress (per seed): every variant of the seed, planned from the probe's spectra; retrained variants
train together on one device (rankcert.training.cotrain), truncated ones cut the probe's update to their plan.

The seed's variants are one output folder, replaced whole only when every variant is done: a variant that
fails fails the stage, and DVC keeps the previous outputs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from rankcert.compression.jobs import job_of, plan_record, probe_to_cut, write_variant_run
from rankcert.compression.truncation import load_truncated
from rankcert.config import records
from rankcert.config.entrypoint import per_seed, run_main
from rankcert.inputs import data
from rankcert.runtime.device import lease_device
from rankcert.runtime.layout import LAYOUT, PROBE
from rankcert.runtime.outputs import atomic_dir
from rankcert.runtime.text import rank_summary
from rankcert.training.base import SharedBase
from rankcert.training.cotrain import fit_all
from rankcert.training.runs import trained, write_timing


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("compress", __doc__, argv)
    variants = params.variants
    probe_spectra = (records.read(LAYOUT.spectra(seed), records.Spectra).singular_values()
                     if any(v.needs_spectra for v in variants) else None)
    retrained = [v for v in variants if v.retrained]
    print(f"[{label}] {len(retrained)} retrained from scratch (alpha = r), {len(variants) - len(retrained)} truncated: "
          + ", ".join(v.name for v in variants), flush=True)
    device = lease_device(params.runtime, label)
    train_data = data.load_encoded(LAYOUT.split_data(seed, "train"), params.model.name) if retrained else None
    manifest = records.read(LAYOUT.manifest(seed), records.Manifest) if retrained else None
    base = SharedBase(params, seed)
    jobs = {v.name: job_of(v, params, base.modules, probe_spectra) for v in variants}
    plans = {v.name: plan_record(v, jobs[v.name].plan, params, probe_spectra) for v in variants}
    truncated = [v for v in variants if not v.retrained]
    probe = probe_to_cut(seed, params, base) if truncated else None  # checked before any training
    with atomic_dir(LAYOUT.variants(seed)) as scratch:
        for done in fit_all(base, [jobs[v.name] for v in retrained], train_data, device, label):
            name = done.job.name
            write_timing(f"{label}-{name}", done.seconds, params.train.steps, device, done.together)
            write_variant_run(scratch / name, done.model, done.log, device, base, plans[name],
                              trained(done.log, len(train_data), manifest, params.train))
        for variant in truncated:
            model = base.lora_model(job := jobs[variant.name])
            load_truncated(model, job.plan, LAYOUT.adapter(seed, PROBE), probe.scales)
            print(f"[{label}-{variant.name}] truncated the probe's update by SVD, no training", flush=True)
            write_variant_run(scratch / variant.name, model, [], torch.device("cpu"), base, plans[variant.name],
                              probe.training)
    for variant in variants:
        print(f"[{label}-{variant.name}] plan: {rank_summary(jobs[variant.name].plan)}", flush=True)


if __name__ == "__main__":
    run_main(main)
