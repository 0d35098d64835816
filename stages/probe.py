"""Stage probe (per seed): train the high-rank probe adapter (or import the user's: params probe.adapter) and record
its per-module spectra."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from rankcert import data, identity, imported, spectra
from rankcert.cotrain import Job, SharedBase, fit_all
from rankcert.errors import run_main
from rankcert.layout import LAYOUT, PROBE
from rankcert.modeling import frozen_copy, lease_device, load_adapter, lora_scales, read_lora_factors
from rankcert.outputs import write_json
from rankcert.params import Params, load_params
from rankcert.runs import write_adapter_run, write_timing


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    probe, label = params.probe, f"probe@{args.seed}"
    if probe.adapter:
        _import(params, args.seed, label)
        return
    print(f"[{label}] r={probe.rank} alpha={probe.alpha}, {params.train.steps} steps", flush=True)
    device = lease_device(params.runtime.device, label)
    train_data = data.load_encoded(LAYOUT.prepared(args.seed) / "train.safetensors", params.model.name)
    base = SharedBase(params, args.seed)
    job = Job(PROBE, {m: probe.rank for m in base.modules}, {m: probe.alpha for m in base.modules})
    (trained,) = fit_all(base, [job], train_data, device, label)
    write_timing(label, trained.seconds, params.train.steps, device, trained.together)
    write_adapter_run(LAYOUT.probe(args.seed), PROBE, trained.model, trained.log, device, args.seed,
                      base.model_type, identity.base_model(params.model), base.pad,
                      extra=_spectra_writer(trained.model, probe.rank))


def _import(params: Params, seed: int, label: str) -> None:
    """The user's adapter (probe.adapter) in the probe's place: checked against params, its track record and the
    base model, then its files copied as they are (nothing is trained; the spectra are read on the CPU)."""
    folder = Path(params.probe.adapter)
    imported.check_config(params)
    files = imported.tracked_files(params, LAYOUT)
    base = SharedBase(params, seed)
    imported.check_shapes(folder, base.model, base.modules, params.model)
    model = load_adapter(frozen_copy(base.model), folder)
    print(f"[{label}] imported {folder} (r={params.probe.rank} alpha={params.probe.alpha}): not trained here", flush=True)
    write_adapter_run(LAYOUT.probe(seed), PROBE, model, [], torch.device("cpu"), seed, base.model_type,
                      identity.base_model(params.model), base.pad, extra=_spectra_writer(model, params.probe.rank),
                      imported=files)


def _spectra_writer(model, rank: int):
    """spectra.json inside the stage's one output folder: each module's ΔW = scale·B·A, at the scale PEFT applies."""
    def write(folder: Path) -> None:
        factors = read_lora_factors(folder / "adapter")
        found = spectra.adapter_spectra(factors, lora_scales(model))
        write_json(folder / "spectra.json", {
            "probe_rank": rank,
            "modules": {s.module: {"singular_values": s.singular_values, "stable_rank": s.stable_rank} for s in found},
        })
    return write

if __name__ == "__main__":
    run_main(main)
