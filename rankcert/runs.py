"""An adapter's run folder: adapter/ (PEFT format), train_log.csv, run.json and what the stage adds."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from rankcert import identity, modeling
from rankcert.outputs import SCRATCH, atomic_dir, write_csv, write_json
from rankcert.padding import PadToken
from rankcert.prediction import adapter_parameters
from rankcert.runfacts import environment
from rankcert.training import LogRow


def write_adapter_run(out: Path, name: str, model, log: list[LogRow], device: torch.device, seed: int,
                      model_type: str, base: str, pad: PadToken, extra: Callable[[Path], None] | None = None,
                      imported: dict[str, bytes] | None = None) -> None:
    """adapter/, train_log.csv, run.json and what `extra(folder)` adds, replacing `out` as one folder.

    run.json holds only what the inputs and the environment decide, so a forced retrain that gives the same
    weights changes nothing downstream; timings go to write_timing. It records who the adapter is (its name,
    seed, ranks, base model `base` and content hash: rankcert.identity), which evaluate and certify check
    before they trust the adapter, and the token the examples were padded with. `imported`: a user's adapter
    files (name -> bytes), written as they are instead of saving `model`, so its hash is the user's; run.json's
    `source` says imported (trained otherwise).
    """
    with atomic_dir(out) as scratch:
        if imported is None:
            modeling.save_adapter(model, scratch / "adapter")
        else:
            (scratch / "adapter").mkdir()
            for file, content in imported.items():
                (scratch / "adapter" / file).write_bytes(content)
        write_csv(scratch / "train_log.csv", [vars(row) for row in log], ["step", "loss", "lr"])
        if imported is None:
            trainable, source = modeling.trainable_parameters(model), identity.TRAINED
        else:  # what its training trained: the stored factors and head
            trainable, source = adapter_parameters(scratch / "adapter"), identity.IMPORTED
        write_json(scratch / "run.json", {**environment(device), "model_type": model_type,
                                          "pad_token": pad.record(), "trainable_parameters": trainable,
                                          **identity.record(name, seed, scratch / "adapter", base, source)})
        if extra:
            extra(scratch)


def write_timing(desc: str, seconds: float, steps: int, device: torch.device, together: int) -> None:
    """A training's wall time, in .rankcert-tmp/timings/ where DVC hashes nothing, and one line on the console."""
    per_step = 1000 * seconds / steps
    beside = f", {together} trained at once" if together > 1 else ""
    print(f"[{desc}] {steps} steps in {seconds:.1f} s ({per_step:.2f} ms/step, {device.type}{beside})", flush=True)
    write_json(SCRATCH / "timings" / f"{desc}.json", {"train_seconds": round(seconds, 3), "device": device.type,
                                                       "ms_per_step": round(per_step, 3), "trained_at_once": together})
