"""The records stages hand to each other, typed, each in its file of the layout (rankcert.runtime.layout): a local
input's fingerprint (track), prepare's manifest, the probe's spectra, a variant's rank plan, an adapter's run record,
an evaluation record; and the adapter_config.json PEFT writes beside an adapter's weights, as rankcert reads it.

Each is a dataclass written and read here through rankcert.config.codec as stable JSON, so readers use fields, and
a record that lacks a field or holds one of the wrong type is refused in one line naming the file. An optional
field left at its default is not written: a record holds exactly the keys that say something. Standard library
only (certify imports no torch).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from rankcert.config import codec
from rankcert.config.params import TrainParams
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import ADAPTER_CONFIG

TRAINED, TRUNCATED, IMPORTED = "trained", "truncated", "imported"  # Training.source
RERUN = "rerun its stage (dvc repro)"

Record = TypeVar("Record")


@dataclass(frozen=True)
class Tracked:
    """track@<key>: a local input folder's files (relative name -> sha256), not its path (data/inputs/<key>.json)."""

    files: dict[str, str]


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
class Spectrum:
    singular_values: list[float]  # of ΔW = scale·B·A, descending
    stable_rank: float  # ‖ΔW‖_F² / ‖ΔW‖_2²


@dataclass(frozen=True)
class Spectra:
    """probe@<seed>'s spectra.json: each module's update spectrum, at the rank the probe was trained at."""

    probe_rank: int
    modules: dict[str, Spectrum]

    def singular_values(self) -> dict[str, list[float]]:
        """Module -> its singular values: what a plan reads."""
        return {module: s.singular_values for module, s in self.modules.items()}


@dataclass(frozen=True)
class RankPlan:
    """compress@<seed>'s plan.json in a variant's run folder: its ranks, and for a spectrum-read plan each module's
    energy rank at its threshold (both null for a plan that reads no spectrum)."""

    variant: str
    kind: str
    ranks: dict[str, int]  # module -> LoRA rank
    energy_ranks: dict[str, int] | None
    energy_threshold: float | None


@dataclass(frozen=True)
class AdapterConfig:
    """The keys rankcert reads of the adapter_config.json PEFT saves beside an adapter's weights (the others, which
    vary with PEFT's version, are left to PEFT). Every key may be absent: a folder that isn't a plain LoRA adapter
    is refused by what it says (rankcert.training.imported), not by a missing key."""

    peft_type: str | None = None
    r: int | None = None
    lora_alpha: float | None = None
    target_modules: list[str] | str | None = None  # PEFT also takes one regular expression
    rank_pattern: dict[str, int] | None = None  # module -> its rank, where not r
    use_dora: bool | None = None
    bias: str | None = None
    lora_bias: bool | None = None
    base_model_name_or_path: str | None = None

    def rank(self, module: str) -> int | None:
        """The rank PEFT builds at `module`: its rank_pattern entry, else r."""
        return (self.rank_pattern or {}).get(module, self.r)

    @property
    def largest_rank(self) -> int | None:
        """The largest rank the config builds (its r, or a larger one in rank_pattern)."""
        ranks = [r for r in [self.r, *(self.rank_pattern or {}).values()] if r is not None]
        return max(ranks, default=None)


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


PREDICTION_COLUMNS = ["index", "label", "prediction"]  # evaluate's predictions CSV, one row per eval example


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


def text(record: Any) -> str:
    """The record's file contents (stable JSON)."""
    return codec.text(record)


def read(path: Path, kind: type[Record], fix: str = RERUN) -> Record:
    """The record of type `kind` in `path`; a missing, damaged or differently shaped file is one line ending in `fix`."""
    return codec.read(path, kind, _NAMES.get(kind, "record"), fix)


def read_adapter_config(folder: Path, fix: str = RERUN) -> AdapterConfig:
    """The adapter_config.json in adapter folder `folder`, its keys rankcert reads."""
    path = Path(folder) / ADAPTER_CONFIG
    raw = codec.read_json(path, fix)
    if not isinstance(raw, dict):
        raise RankcertError(f"{path} is not a PEFT adapter config; {fix}")
    names = {f.name for f in dataclasses.fields(AdapterConfig)}
    # an empty text states nothing: PEFT saves base_model_name_or_path "" for a base it has no name for
    return codec.loaded(AdapterConfig, {k: v for k, v in raw.items() if k in names and v != ""}, str(path),
                        _NAMES[AdapterConfig], fix)


def adapter_ranks(folder: Path) -> dict[str, int]:
    """Module -> LoRA rank, as the adapter_config.json in `folder` builds them, for each of its target modules."""
    config = read_adapter_config(folder)
    if not isinstance(config.target_modules, list) or config.r is None:
        raise RankcertError(f"{Path(folder) / ADAPTER_CONFIG} is not a LoRA adapter config (no r or target_modules "
                            f"list); {RERUN}")
    return {module: config.rank(module) for module in sorted(config.target_modules)}


_NAMES = {Tracked: "input fingerprint", Manifest: "prepared-data manifest", Spectra: "probe spectra record",
          RankPlan: "rank plan", AdapterConfig: "PEFT adapter config", AdapterRun: "adapter run record",
          Evaluation: "evaluation record", Sample: "sample record", Training: "training record"}
