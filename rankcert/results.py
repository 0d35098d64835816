"""Reading the stages' outputs back, by the pipeline's layout; a missing file reads as None or empty."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rankcert.errors import RankcertError
from rankcert.outputs import read_json

Key = tuple[int, str]  # (seed, adapter name: "probe" or a variant)


@dataclass(frozen=True)
class RunResults:
    predictions: dict[Key, pd.DataFrame | None]
    sizes: dict[Key, dict]  # evaluate metrics: trainable_parameters, reduction_vs_probe, ...
    plans: dict[Key, dict[str, int]]  # variant rank plans
    logs: dict[Key, list[dict]]  # training loss rows
    probe_spectra: dict[int, dict[str, list[float]]]
    run: dict  # the first probe's run.json: device, versions, model type
    data_fingerprints: str


def adapter_folder(data: Path, seed: int, name: str) -> Path:
    return data / "probe" / str(seed) if name == "probe" else data / "variants" / str(seed) / name


def read_predictions(path: Path) -> pd.DataFrame | None:
    """Per-example predictions, or None when the file is missing (that seed then counts as failed)."""
    if not path.is_file():
        return None
    return pd.read_csv(path).sort_values("index").reset_index(drop=True)


def read_spectra(path: Path) -> dict[str, list[float]]:
    """Module name -> singular values, from a probe's spectra.json."""
    if not path.is_file():
        raise RankcertError(f"{path} not found; run the probe stage for this seed first")
    return {m: s["singular_values"] for m, s in read_json(path)["modules"].items()}


def _optional_json(path: Path) -> dict | None:
    return read_json(path) if path.is_file() else None


def _read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read_results(data: Path, eval_metrics: Path, seeds: list[int], variants: list[str]) -> RunResults:
    keys = [(seed, name) for seed in seeds for name in ["probe", *variants]]
    spectra_files = {s: adapter_folder(data, s, "probe") / "spectra.json" for s in seeds}
    runs = [r for s in seeds if (r := _optional_json(adapter_folder(data, s, "probe") / "run.json"))]
    return RunResults(
        predictions={(s, n): read_predictions(data / "eval" / str(s) / f"{n}.csv") for s, n in keys},
        sizes={(s, n): m for s, n in keys if (m := _optional_json(eval_metrics / str(s) / f"{n}.json"))},
        plans={(s, n): p["ranks"] for s, n in keys
               if n != "probe" and (p := _optional_json(adapter_folder(data, s, n) / "plan.json"))},
        logs={(s, n): _read_log(adapter_folder(data, s, n) / "train_log.csv") for s, n in keys},
        probe_spectra={s: read_spectra(path) for s, path in spectra_files.items() if path.is_file()},
        run=runs[0] if runs else {},
        data_fingerprints=_data_fingerprints(data, seeds),
    )


def _data_fingerprints(data: Path, seeds: list[int]) -> str:
    manifests = {s: m for s in seeds if (m := _optional_json(data / "prepared" / str(s) / "manifest.json"))}
    if not manifests:
        return "unknown"
    parts = [f"seed {s} train {m['train']['fingerprint'][:12]}" for s, m in manifests.items()]
    evals = sorted({m["eval"]["fingerprint"][:12] for m in manifests.values()})
    return "; ".join(parts) + f"; eval {', '.join(evals)}"
