"""An adapter's run folder: adapter/ (PEFT format), train_log.csv, run.json and what the stage adds."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from rankcert import identity, modeling, records
from rankcert.outputs import SCRATCH, atomic_dir, write_csv, write_json, write_text
from rankcert.params import TrainParams
from rankcert.records import TRAINED, AdapterRun, Manifest, PadToken, Training
from rankcert.runfacts import environment
from rankcert.training import LogRow


def trained(log: list[LogRow], examples: int, manifest: Manifest, recipe: TrainParams) -> Training:
    """The training record of weights this stage just trained: the steps its loss log shows were run, on the
    prepared train sample of `manifest` (`examples` rows), with a copy of the recipe's every field."""
    ran = TrainParams(**{field.name: getattr(recipe, field.name) for field in dataclasses.fields(TrainParams)})
    return Training(TRAINED, log[-1].step if log else 0, examples, manifest.train.fingerprint, ran)


def write_adapter_run(out: Path, name: str, model, log: list[LogRow], device: torch.device, seed: int,
                      model_type: str, base: str, pad: PadToken, training: Training,
                      extra: Callable[[Path], None] | None = None) -> None:
    """adapter/, train_log.csv, run.json and what `extra(folder)` adds, replacing `out` as one folder.

    run.json (records.AdapterRun) holds only what the inputs and the environment decide, so a forced retrain
    that gives the same weights changes nothing downstream; timings go to write_timing. It records who the
    adapter is (its name, seed, ranks, base model `base`, `training` and content hash: rankcert.identity), which
    evaluate and certify check before they trust the adapter, and the token the examples were padded with.
    """
    with atomic_dir(out) as scratch:
        modeling.save_adapter(model, scratch / "adapter")
        write_csv(scratch / "train_log.csv", [vars(row) for row in log], ["step", "loss", "lr"])
        run = AdapterRun(**identity.record(name, seed, scratch / "adapter", base, training), model_type=model_type,
                         pad_token=pad, trainable_parameters=modeling.trainable_parameters(model),
                         **environment(device))  # python, packages, device
        write_text(scratch / "run.json", records.text(run))
        if extra:
            extra(scratch)


def write_timing(desc: str, seconds: float, steps: int, device: torch.device, together: int) -> None:
    """A training's wall time, in .rankcert-tmp/timings/ where DVC hashes nothing, and one line on the console."""
    per_step = 1000 * seconds / steps
    beside = f", {together} trained at once" if together > 1 else ""
    print(f"[{desc}] {steps} steps in {seconds:.1f} s ({per_step:.2f} ms/step, {device.type}{beside})", flush=True)
    write_json(SCRATCH / "timings" / f"{desc}.json", {"train_seconds": round(seconds, 3), "device": device.type,
                                                       "ms_per_step": round(per_step, 3), "trained_at_once": together})
