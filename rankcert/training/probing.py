"""What the probe stage writes besides training: its spectra.json, and a user's adapter (params probe.adapter)
imported in the trained probe's place."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from rankcert.config import records
from rankcert.config.params import Params
from rankcert.config.records import Spectra, Spectrum
from rankcert.runtime.layout import ADAPTER, LAYOUT, PROBE, SPECTRA
from rankcert.runtime.outputs import write_text
from rankcert.training import identity, imported, spectra
from rankcert.training.base import SharedBase
from rankcert.training.modeling import frozen_copy, load_adapter, lora_scales, read_lora_factors
from rankcert.training.runs import imported_training, write_adapter_run


def import_adapter(params: Params, seed: int, label: str) -> None:
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
                      identity.base_model(params.model), base.pad, imported_training(),
                      extra=spectra_writer(model, params.probe.rank), imported=files)


def spectra_writer(model, rank: int) -> Callable[[Path], None]:
    """spectra.json inside the stage's one output folder: each module's ΔW = scale·B·A, at the scale PEFT applies."""
    def write(folder: Path) -> None:
        factors = read_lora_factors(folder / ADAPTER)
        found = spectra.adapter_spectra(factors, lora_scales(model))
        write_text(folder / SPECTRA, records.text(Spectra(rank, {s.module: Spectrum(s.singular_values, s.stable_rank)
                                                                 for s in found})))
    return write
