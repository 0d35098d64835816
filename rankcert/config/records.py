"""The records stages hand to each other, typed: prepare's manifest (manifest.json in a prepared folder), an
adapter's run record (run.json in its run folder) and an evaluation record (metrics/eval/<seed>/<adapter>.json).

Each is a dataclass written and read here as stable JSON (outputs.to_json), so readers use fields, and a record
that lacks a field or holds one of the wrong type is refused in one line naming the file. An optional field left
at None is not written: a record holds exactly the keys that say something. Standard library only (certify
imports no torch).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from rankcert.config.params import TrainParams, build_config
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.outputs import to_json

TRAINED, TRUNCATED, IMPORTED = "trained", "truncated", "imported"  # Training.source

Record = TypeVar("Record")


@dataclass(frozen=True)
class Sample:
    """One prepared split: how many rows and which (their fingerprint), their labels, the padded width."""

    rows: int
    fingerprint: str
    padded_length: int
    positive: int | None = None  # two labels: how many rows have label 1
    label_counts: list[int] | None = None  # more labels: how many rows have each
    split_rows: int | None = None  # the eval sample: the whole split's size


@dataclass(frozen=True)
class Manifest:
    """prepare@<seed>: the train sample drawn with the seed and the eval sample, from data `source`."""

    seed: int
    source: str
    train: Sample
    eval: Sample


@dataclass(frozen=True)
class PadToken:
    """The token examples are padded with; `source` says where it came from (the tokenizer's own pad token, or
    its EOS token because it had none: rankcert.inputs.padding)."""

    token: str
    id: int
    source: str


@dataclass(frozen=True)
class Training:
    """What an adapter's weights are the result of, as the training loop saw it (not as params say now).

    `source` is how they were made: trained by this stage, truncated from the probe's update (then the other
    fields are the probe's training), or imported (a user's adapter, params probe.adapter: the other fields are
    unknown, None, and so are those of a cut of it). Another way to get weights is another `source`."""

    source: Literal["trained", "truncated", "imported"]
    steps: int | None = None  # optimizer steps the weights were trained for (the loop's count)
    examples: int | None = None  # size of the prepared train sample its batches were drawn from
    data_fingerprint: str | None = None  # that sample's fingerprint (prepare's manifest)
    recipe: TrainParams | None = None  # the train section it ran with


@dataclass(frozen=True)
class AdapterRun:
    """run.json: who the adapter is (rankcert.training.identity's record_sha256 covers the fields up to `training`), how
    its weights were made, and the environment that made them."""

    adapter: str  # "probe" or a variant name
    seed: int
    ranks: dict[str, int]  # module -> LoRA rank, as its adapter_config.json builds them
    base_model: str  # identity.base_model
    adapter_sha256: str  # sources.adapter_digest of its adapter folder
    training: Training
    record_sha256: str
    model_type: str
    pad_token: PadToken
    trainable_parameters: int
    python: str
    packages: dict[str, str]
    device: str


@dataclass(frozen=True)
class Evaluation:
    """evaluate@<seed>'s record of one adapter: which adapter, which predictions file, and what they score."""

    adapter_sha256: str  # the adapter these predictions are of
    predictions_sha256: str  # the predictions CSV evaluate wrote
    accuracy: float
    correct: int
    examples: int  # eval examples predicted
    trainable_parameters: int
    reduction_vs_probe: float


def as_json(record: Any) -> dict:
    """The record as a JSON object: nested records as objects, optional fields at None left out."""
    out = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if value is None and field.default is None:
            continue
        out[field.name] = as_json(value) if dataclasses.is_dataclass(value) else value
    return out


def text(record: Any) -> str:
    """The record's file contents (stable JSON)."""
    return to_json(as_json(record))


def read(path: Path, kind: type[Record]) -> Record:
    """The record of type `kind` in `path`; a missing, damaged or differently shaped file is one line."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise RankcertError(f"{path} is missing or damaged ({one_line(err)[:80]}); rerun its stage (dvc repro)") from err
    try:
        return build_config(kind, raw, "")
    except RankcertError as err:
        raise RankcertError(f"{path} is not the {_NAMES.get(kind, 'record')} this rankcert writes ({err}: written by an older "
                            "rankcert, or edited); rerun its stage (dvc repro)") from err


_NAMES = {Manifest: "prepared-data manifest", AdapterRun: "adapter run record", Evaluation: "evaluation record"}
