"""Stage probe (per seed): train the high-rank probe adapter and record its per-module spectra."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankcert import data, identity, records, spectra
from rankcert.cotrain import Job, SharedBase, fit_all
from rankcert.harness import per_seed, run_main
from rankcert.layout import LAYOUT, PROBE
from rankcert.modeling import lease_device, read_lora_factors
from rankcert.outputs import write_json
from rankcert.records import Manifest
from rankcert.runs import trained, write_adapter_run, write_timing


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("probe", __doc__, argv)
    probe = params.probe
    print(f"[{label}] r={probe.rank} alpha={probe.alpha}, {params.train.steps} steps", flush=True)
    device = lease_device(params.runtime.device, label)
    prepared = LAYOUT.prepared(seed)
    manifest = records.read(prepared / "manifest.json", Manifest)  # which sample it trains on, for run.json
    train_data = data.load_encoded(prepared / "train.safetensors", params.model.name)
    base = SharedBase(params, seed)
    job = Job(PROBE, {m: probe.rank for m in base.modules}, {m: probe.alpha for m in base.modules})

    def write_spectra(folder: Path) -> None:  # inside the stage's one output folder
        factors = read_lora_factors(folder / "adapter")
        found = spectra.adapter_spectra(factors, {m: probe.alpha / probe.rank for m in job.plan})
        write_json(folder / "spectra.json", {
            "probe_rank": probe.rank,
            "modules": {s.module: {"singular_values": s.singular_values, "stable_rank": s.stable_rank} for s in found},
        })

    (done,) = fit_all(base, [job], train_data, device, label)
    write_timing(label, done.seconds, params.train.steps, device, done.together)
    write_adapter_run(LAYOUT.probe(seed), PROBE, done.model, done.log, device, seed, base.model_type,
                      identity.base_model(params.model), base.pad,
                      trained(done.log, len(train_data), manifest, params.train), extra=write_spectra)


if __name__ == "__main__":
    run_main(main)
