"""A release's files as verify reads them, on its own: the committed certificate, plan and looks, and the
DVC-tracked predictions, evaluation records, run records, manifests and adapter files.

Nothing here goes through certify's reading (rankcert.certification.run_results): the predictions CSVs are parsed, their
labels checked against the prepared eval set, and the adapters hashed here. Only the files' record types are
shared. A file the certificate relies on that is absent is bad input (not pulled: exit 2); a file that is there
but is not what the certificate says is a mismatch (exit 1).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from rankcert.certification import certificate, plan
from rankcert.certification.certificate import Certificate
from rankcert.config import records
from rankcert.config.params import Params, load_params
from rankcert.config.records import AdapterRun, Evaluation, Manifest
from rankcert.inputs.sources import adapter_digest, file_sha256
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.layout import PROBE, Layout

Key = tuple[int, str]  # (seed, adapter name: "probe" or a variant)
HEADER = "index,label,prediction"
PULL = "`dvc pull` fetches it (or `rankcert.tools.verify --pull`)"


class Mismatch(Exception):
    """A committed figure or file that is not what the predictions and records give: one line."""


@dataclass(frozen=True)
class Adapter:
    """One seed's probe or variant: its predictions read and checked, its records, its files' digest."""

    predictions: Path
    correct: np.ndarray  # per eval example: prediction == label
    predictions_sha256: str
    evaluation: Evaluation  # evaluate's record (metrics/eval/<seed>/<name>.json)
    run: AdapterRun  # its run record (run.json)
    digest: str  # sha256 of its adapter files, as sources.adapter_digest defines it


@dataclass(frozen=True)
class Release:
    root: Path
    layout: Layout
    params: Params
    certificate: Certificate
    plan: plan.Plan  # the plan file's terms
    plan_stated_sha256: object  # the hash the plan file states beside its terms
    looks: list[plan.Look]  # the looks file
    adapters: dict[Key, Adapter]  # every adapter with predictions in the workspace
    manifests: dict[int, Manifest]  # prepare's record of each seed prepared

    def rel(self, path: Path) -> str:
        """`path` as the repository names it."""
        return Path(path).relative_to(self.root).as_posix()


def read(root: Path) -> Release:
    """Everything verify compares, read from the repository at `root`."""
    if not (root / "params.yaml").is_file():
        raise RankcertError(f"{root} has no params.yaml: not a rankcert repository (pass --root)")
    layout = Layout(root)
    params = load_params(root / "params.yaml")
    found = read_certificate(layout)
    terms, stated = read_plan(layout)
    looks = _looks(layout)
    manifests = {s: records.read(p, Manifest) for s in params.seeds if (p := layout.manifest(s)).is_file()}
    adapters, wanted = {}, measured(found)
    for seed in params.seeds:
        names = [n for n in [PROBE, *params.variant_names] if (seed, n) in wanted or layout.predictions(seed, n).is_file()]
        labels = eval_labels(layout, seed) if names else None
        adapters |= {(seed, name): read_adapter(layout, seed, name, labels) for name in names}
    return Release(root, layout, params, found, terms, stated, looks, adapters, manifests)


def read_certificate(layout: Layout) -> Certificate:
    for path in (layout.certificate, layout.certificate_details):
        if not path.is_file():
            raise RankcertError(f"{path} not found: no certificate to verify (check out a release, or `dvc repro`)")
    try:
        return certificate.read(layout.certificate, layout.certificate_details)
    except RankcertError as err:
        raise Mismatch(str(err)) from err


def measured(found: Certificate) -> set[Key]:
    """The adapters the certificate states results of: their predictions must be in the workspace."""
    keys = {(s, PROBE) for s, p in found.details.probe.seeds.items() if p.accuracy is not None}
    return keys | {(s, name) for name, v in found.details.variants.items()
                   for s, d in v.seeds.items() if d.accuracy is not None}


def read_plan(layout: Layout) -> tuple[plan.Plan, object]:
    """The plan file's terms (as plan.Plan) and the sha256 it states beside them."""
    path = layout.certify_plan
    if not path.is_file():
        raise RankcertError(f"{path} not found: the certificate's plan is not in the repository")
    data = _json(path)
    fields = ("share", "tolerance", "confidence", "looks", "spending", "seeds")
    if not isinstance(data, dict) or set(data) != {*fields, "sha256"}:
        raise Mismatch(f"{path}: expected the keys {sorted({*fields, 'sha256'})}, found "
                       f"{sorted(data) if isinstance(data, dict) else type(data).__name__}")
    return plan.Plan(**{name: data[name] for name in fields}), data["sha256"]


def _looks(layout: Layout) -> list[plan.Look]:
    if not layout.certify_looks.is_file():
        raise RankcertError(f"{layout.certify_looks} not found: the looks the certificate read are not in the repository")
    try:
        return plan.read_looks(layout.certify_looks)
    except RankcertError as err:
        raise Mismatch(str(err)) from err


def read_adapter(layout: Layout, seed: int, name: str, labels: np.ndarray) -> Adapter:
    """One adapter's predictions (checked against the seed's prepared eval `labels`), records and files."""
    path = layout.predictions(seed, name)
    for needed in (path, layout.eval_metrics(seed, name), layout.run_record(seed, name)):
        if not needed.is_file():
            raise RankcertError(f"{needed} is not in the workspace but the certificate relies on it: {PULL}")
    rows = read_predictions(path)
    examples = layout.split_data(seed, "eval")
    if len(rows) != len(labels):
        raise Mismatch(f"{path} has {len(rows)} rows, {examples} {len(labels)} labels")
    if (wrong := np.flatnonzero(rows[:, 1] != labels)).size:
        row = int(wrong[0])
        raise Mismatch(f"{path} row {row}: label is {rows[row, 1]}, {examples} says {labels[row]}")
    return Adapter(path, rows[:, 2] == rows[:, 1], file_sha256(path),
                   records.read(layout.eval_metrics(seed, name), Evaluation),
                   records.read(layout.run_record(seed, name), AdapterRun),
                   adapter_digest(layout.adapter(seed, name)))


def read_predictions(path: Path) -> np.ndarray:
    """[rows, 3] integers: index, label, prediction; the index must count 0, 1, 2, ..."""
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    if header != HEADER:
        raise Mismatch(f"{path}: header is {header!r}, expected {HEADER!r}")
    try:
        rows = np.array([[int(cell) for cell in line.split(",")] for line in lines], dtype=np.int64).reshape(-1, 3)
    except ValueError as err:
        raise Mismatch(f"{path} is not three integer columns: {one_line(err)[:120]}") from err
    if (wrong := np.flatnonzero(rows[:, 0] != np.arange(len(rows)))).size:
        raise Mismatch(f"{path} row {int(wrong[0])}: index is {rows[wrong[0], 0]}, expected {int(wrong[0])}")
    return rows


def eval_labels(layout: Layout, seed: int) -> np.ndarray:
    """The prepared eval set's labels for `seed` (prepare's output)."""
    path = layout.split_data(seed, "eval")
    if not path.is_file():
        raise RankcertError(f"{path} is not in the workspace but the predictions are checked against it: {PULL}")
    try:
        return load_file(str(path))["labels"]
    except (SafetensorError, KeyError, ValueError, OSError) as err:
        raise Mismatch(f"{path} is not a prepared eval set: {one_line(err)[:120]}") from err


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Mismatch(f"{path} is not JSON: {one_line(err)[:120]}") from err
