"""An adapter's run folder: adapter/ (PEFT format), train_log.csv, run.json and what the stage adds."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from rankcert.config import records
from rankcert.config.params import TrainParams
from rankcert.config.records import IMPORTED, TRAINED, AdapterRun, Manifest, PadToken, Training
from rankcert.runtime.layout import ADAPTER, RUN_RECORD, TRAIN_LOG
from rankcert.runtime.outputs import SCRATCH, atomic_dir, write_csv, write_json, write_text
from rankcert.runtime.runfacts import environment
from rankcert.training import identity, modeling
from rankcert.training.loop import LogRow


def trained(log: list[LogRow], examples: int, manifest: Manifest, recipe: TrainParams) -> Training:
    """The training record of weights this stage just trained: the steps its loss log shows were run, on the
    prepared train sample of `manifest` (`examples` rows), with a copy of the recipe's every field."""
    ran = TrainParams(**{field.name: getattr(recipe, field.name) for field in dataclasses.fields(TrainParams)})
    return Training(TRAINED, log[-1].step if log else 0, examples, manifest.train.fingerprint, ran)


def imported_training() -> Training:
    """The training record of a user's adapter (params probe.adapter): not trained here, so its steps, sample and
    recipe are unknown."""
    return Training(IMPORTED)


def write_adapter_run(out: Path, name: str, model, log: list[LogRow], device: torch.device, seed: int,
                      model_type: str, base: str, pad: PadToken, training: Training,
                      extra: Callable[[Path], None] | None = None, imported: dict[str, bytes] | None = None) -> None:
    """adapter/, train_log.csv, run.json and what `extra(folder)` adds, replacing `out` as one folder.

    run.json (records.AdapterRun) holds only what the inputs and the environment decide, so a forced retrain
    that gives the same weights changes nothing downstream; timings go to write_timing. It records who the
    adapter is (its name, seed, ranks, base model `base`, `training` and content hash: rankcert.training.identity), which
    evaluate and certify check before they trust the adapter, and the token the examples were padded with.
    `imported`: a user's adapter files (name -> bytes), written as they are instead of saving `model`, so its
    hash is the user's (`training` is then imported_training()).
    """
    with atomic_dir(out) as scratch:
        adapter = scratch / ADAPTER
        if imported is None:
            modeling.save_adapter(model, adapter)
        else:
            adapter.mkdir()
            for file, content in imported.items():
                (adapter / file).write_bytes(content)
        write_csv(scratch / TRAIN_LOG, [vars(row) for row in log], ["step", "loss", "lr"])
        # an imported adapter's trainable parameters: what its training trained, the stored factors and head
        trainable = modeling.trainable_parameters(model) if imported is None else modeling.adapter_parameters(adapter)
        run = AdapterRun(**identity.record(name, seed, adapter, base, training), model_type=model_type,
                         pad_token=pad, trainable_parameters=trainable, **environment(device))  # python, packages, device
        write_text(scratch / RUN_RECORD, records.text(run))
        if extra:
            extra(scratch)


def write_timing(desc: str, seconds: float, steps: int, device: torch.device, together: int) -> None:
    """A training's wall time, in .rankcert-tmp/timings/ where DVC hashes nothing, and one line on the console."""
    per_step = 1000 * seconds / steps
    beside = f", {together} trained at once" if together > 1 else ""
    print(f"[{desc}] {steps} steps in {seconds:.1f} s ({per_step:.2f} ms/step, {device.type}{beside})", flush=True)
    write_json(SCRATCH / "timings" / f"{desc}.json", {"train_seconds": round(seconds, 3), "device": device.type,
                                                       "ms_per_step": round(per_step, 3), "trained_at_once": together})
