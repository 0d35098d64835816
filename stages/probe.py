"""Stage probe (per seed): train the high-rank probe adapter (or import the user's: params probe.adapter) and record
its per-module spectra."""
from __future__ import annotations

from collections.abc import Sequence

from rankcert.config import records
from rankcert.config.entrypoint import per_seed, run_main
from rankcert.config.records import Manifest
from rankcert.inputs import data
from rankcert.runtime.device import lease_device
from rankcert.runtime.layout import LAYOUT, PROBE
from rankcert.training import identity
from rankcert.training.base import Job, SharedBase
from rankcert.training.cotrain import fit_all
from rankcert.training.probing import import_adapter, spectra_writer
from rankcert.training.runs import trained, write_adapter_run, write_timing


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("probe", __doc__, argv)
    probe = params.probe
    if probe.adapter:
        import_adapter(params, seed, label)
        return
    print(f"[{label}] r={probe.rank} alpha={probe.alpha}, {params.train.steps} steps", flush=True)
    device = lease_device(params.runtime, label)
    manifest = records.read(LAYOUT.manifest(seed), Manifest)  # which sample it trains on, for run.json
    train_data = data.load_encoded(LAYOUT.split_data(seed, "train"), params.model.name)
    base = SharedBase(params, seed)
    job = Job(PROBE, {m: probe.rank for m in base.modules}, {m: probe.alpha for m in base.modules})
    (done,) = fit_all(base, [job], train_data, device, label)
    write_timing(label, done.seconds, params.train.steps, device, done.together)
    write_adapter_run(LAYOUT.probe(seed), PROBE, done.model, done.log, device, seed, base.model_type,
                      identity.base_model(params.model), base.pad,
                      trained(done.log, len(train_data), manifest, params.train),
                      extra=spectra_writer(done.model, probe.rank))


if __name__ == "__main__":
    run_main(main)
