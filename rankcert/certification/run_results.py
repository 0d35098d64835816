"""Reading the stages' outputs back, by the pipeline's layout, and checking what certify relies on.

A missing file reads as None or empty (certify counts that seed as failed and says why). Predictions must match
the prepared eval set (count, order, labels) and the accuracies in metrics/eval, be the very file evaluate wrote,
and be of the adapter on disk (by content hash): anything else stops certify with one line naming the file, the
seed and the row.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file

from rankcert.config import records
from rankcert.config.records import PREDICTION_COLUMNS, AdapterRun, Evaluation, Manifest, RankPlan, Spectra
from rankcert.inputs.sources import file_sha256
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.layout import ADAPTER, PROBE, Layout
from rankcert.runtime.text import label_names
from rankcert.training import identity

Key = tuple[int, str]  # (seed, adapter name: "probe" or a variant)


@dataclass(frozen=True)
class RunResults:
    predictions: dict[Key, pd.DataFrame | None]
    evaluations: dict[Key, Evaluation]  # evaluate's record of each adapter with predictions
    runs: dict[Key, AdapterRun]  # the run record of each adapter with predictions (identity-verified)
    manifests: dict[int, Manifest]  # prepare's record of each seed prepared
    plans: dict[Key, dict[str, int]]  # variant rank plans
    logs: dict[Key, list[dict]]  # training loss rows
    probe_spectra: dict[int, dict[str, list[float]]]
    data_fingerprints: str
    missing: dict[Key, str]  # why a result is absent, for the report

    @property
    def adapters(self) -> dict[Key, str]:
        """sha256 of each adapter judged (verified against its evaluation and the files on disk)."""
        return {key: run.adapter_sha256 for key, run in self.runs.items()}

    @property
    def environment(self) -> AdapterRun | None:
        """The first probe's run record: the model type, device and versions the run states."""
        return next((run for (_, name), run in self.runs.items() if name == PROBE), None)

    @property
    def eval_split_rows(self) -> int | None:
        """The whole eval split's size (prepare's manifest), when known."""
        return next((m.eval.split_rows for m in self.manifests.values()), None)


def read_predictions(path: Path, labels: np.ndarray | None, seed: int, num_labels: int = 2) -> pd.DataFrame | None:
    """Per-example predictions checked against the prepared eval labels, or None when the file is missing."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise RankcertError(f"{path} (seed {seed}) is not a predictions CSV: {one_line(err)[:120]}") from err
    if list(frame.columns) != PREDICTION_COLUMNS or not all(pd.api.types.is_integer_dtype(frame[c]) for c in PREDICTION_COLUMNS):
        raise RankcertError(f"{path} (seed {seed}): expected integer columns {PREDICTION_COLUMNS}, found {list(frame.columns)}")
    if labels is None:
        raise RankcertError(f"{path} (seed {seed}) has no prepared eval set to check it against; "
                            f"run the prepare stage for seed {seed}")
    _check_rows(frame, labels, path, seed, num_labels)
    return frame


def _check_rows(frame: pd.DataFrame, labels: np.ndarray, path: Path, seed: int, num_labels: int) -> None:
    if len(frame) != len(labels):
        raise RankcertError(f"{path} (seed {seed}) has {len(frame)} rows; the prepared eval set has {len(labels)}")
    for column, expected in (("index", np.arange(len(labels))), ("label", labels)):
        wrong = np.flatnonzero(frame[column].to_numpy() != expected)
        if wrong.size:
            row = int(wrong[0])
            raise RankcertError(f"{path} (seed {seed}) row {row}: {column} is {frame[column].iloc[row]}, the prepared "
                                f"eval set says {expected[row]} ({wrong.size} rows differ)")
    bad = np.flatnonzero(~frame["prediction"].isin(range(num_labels)).to_numpy())
    if bad.size:
        raise RankcertError(f"{path} (seed {seed}) row {int(bad[0])}: prediction {frame['prediction'].iloc[bad[0]]} "
                            f"is not a label ({label_names(num_labels)})")


def check_metrics(frame: pd.DataFrame, metrics: Evaluation, path: Path, seed: int) -> None:
    """The evaluate stage's accuracy must be the one its predictions give."""
    correct = int((frame["prediction"] == frame["label"]).sum())
    claimed = (metrics.correct, metrics.examples, metrics.accuracy)
    if claimed[:2] != (correct, len(frame)) or abs(claimed[2] - correct / len(frame)) > 1e-9:
        raise RankcertError(f"{path} (seed {seed}) says {claimed[0]}/{claimed[1]} correct (accuracy {claimed[2]}), "
                            f"its predictions give {correct}/{len(frame)}")


def check_identity(predictions: Path, metrics: Evaluation, metrics_path: Path, run: Path, seed: int, name: str,
                   base: str) -> AdapterRun:
    """The adapter on disk must be `name`'s of `seed` on base `base` (identity.verified_run) and the one evaluated,
    and the predictions the ones evaluate wrote: its run record."""
    if file_sha256(predictions) != metrics.predictions_sha256:
        raise RankcertError(f"{predictions} (seed {seed}) is not the file evaluate@{seed} wrote (its sha256 differs "
                            f"from {metrics_path}); `dvc checkout` or `dvc repro` restores it")
    on_disk = identity.verified_run(run, seed, name, base)
    if on_disk.adapter_sha256 != metrics.adapter_sha256:
        raise RankcertError(f"{run / ADAPTER} (seed {seed}) is not the adapter these predictions are of: "
                            f"{metrics_path} judged sha256 {metrics.adapter_sha256}, the adapter on disk hashes to "
                            f"{on_disk.adapter_sha256}; rerun `dvc repro`")
    return on_disk


def eval_labels(layout: Layout, seed: int) -> tuple[np.ndarray, str] | None:
    """(labels, fingerprint) of the seed's prepared eval set, or None when prepare hasn't run."""
    examples, manifest = layout.split_data(seed, "eval"), layout.manifest(seed)
    if not examples.is_file() or not manifest.is_file():
        return None
    try:
        labels = load_file(str(examples))["labels"]
    except (SafetensorError, KeyError, ValueError, OSError) as err:
        raise RankcertError(f"{layout.prepared(seed)} (seed {seed}) is not a prepared eval set: "
                            f"{one_line(err)[:120]}") from err
    return labels, records.read(manifest, Manifest).eval.fingerprint


def _read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read_results(layout: Layout, seeds: list[int], variants: list[str], num_labels: int, base: str) -> RunResults:
    """Every seed's and adapter's outputs, checked; `base` is the base model's identity (identity.base_model)."""
    keys = [(seed, name) for seed in seeds for name in [PROBE, *variants]]
    prepared = {s: eval_labels(layout, s) for s in seeds}
    fingerprints = {p[1] for p in prepared.values() if p}
    if len(fingerprints) > 1:
        raise RankcertError(f"the seeds' prepared eval sets differ ({len(fingerprints)} fingerprints in "
                            f"{layout.data / 'prepared'}); every seed must be evaluated on the same examples")
    manifests = _manifests(layout, seeds)
    predictions, evaluations, runs, missing = {}, {}, {}, {}
    for seed, name in keys:
        path = layout.predictions(seed, name)
        labels = prepared[seed][0] if prepared[seed] else None
        predictions[(seed, name)] = frame = read_predictions(path, labels, seed, num_labels)
        metrics_path = layout.eval_metrics(seed, name)
        if frame is None:
            missing[(seed, name)] = f"{path} not found"
            continue
        if not metrics_path.is_file():
            raise RankcertError(f"{path} (seed {seed}) has no {metrics_path} to say which adapter it is of; rerun "
                                f"evaluate@{seed} (dvc repro)")
        metrics = records.read(metrics_path, Evaluation)
        check_metrics(frame, metrics, metrics_path, seed)
        runs[(seed, name)] = check_identity(path, metrics, metrics_path, layout.run(seed, name), seed, name, base)
        evaluations[(seed, name)] = metrics
    return RunResults(
        predictions=predictions,
        evaluations=evaluations,
        runs=runs,
        manifests=manifests,
        plans={(s, n): records.read(path, RankPlan).ranks for s, n in keys
               if n != PROBE and (path := layout.plan(s, n)).is_file()},
        logs={(s, n): _read_log(layout.train_log(s, n)) for s, n in keys},
        probe_spectra={s: records.read(path, Spectra).singular_values() for s in seeds
                       if (path := layout.spectra(s)).is_file()},
        data_fingerprints=_fingerprint_text(manifests),
        missing=missing,
    )


def _manifests(layout: Layout, seeds: list[int]) -> dict[int, Manifest]:
    return {s: records.read(path, Manifest) for s in seeds if (path := layout.manifest(s)).is_file()}


def data_fingerprints(layout: Layout, seeds: list[int]) -> str:
    return _fingerprint_text(_manifests(layout, seeds))


def _fingerprint_text(manifests: dict[int, Manifest]) -> str:
    if not manifests:
        return "unknown"
    parts = [f"seed {s} train {m.train.fingerprint[:12]}" for s, m in manifests.items()]
    evals = sorted({m.eval.fingerprint[:12] for m in manifests.values()})
    return "; ".join(parts) + f"; eval {', '.join(evals)}"
