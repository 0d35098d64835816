"""Data: load SST-2-shaped splits (hub or local files), draw the samples, tokenize, fingerprint.

No torch here: prepare needs none, and tensors are stored as plain arrays (safetensors).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from rankcert.config.params import DataParams
from rankcert.inputs.sources import check_sequence_width, hub_error, hub_revision, is_local
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.text import label_names

LOCAL_FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}


@dataclass(frozen=True)
class Encoded:
    """Tokenized examples, padded to the longest example in the set."""

    input_ids: np.ndarray  # int64 [n, length]
    attention_mask: np.ndarray  # int64 [n, length]
    labels: np.ndarray  # int64 [n]
    source: Path | None = None  # the file load_encoded read them from (the GPU trainer reads it again)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "labels": self.labels}

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_split(source: str, config: str, split: str, revision: str = "main", num_labels: int = 2) -> pd.DataFrame:
    """Rows with `sentence` and `label` (0 .. num_labels − 1) from a local directory or, failing that, the
    dataset hub at `revision`."""
    if is_local(source, "data.source", "folder of split files"):
        frame = _read_local_split(Path(source), split)
        origin = f"{Path(source) / split}.*"
    else:
        frame = _read_hub_split(source, config, split, revision)
        origin = f"{source}/{config}@{revision}:{split}"
    frame = validate_frame(frame, origin, num_labels)
    check_every_label_occurs(frame, origin, num_labels)
    return frame


def load_splits(d: DataParams, num_labels: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train split and the eval split of params `data`."""
    return (load_split(d.source, d.config, d.train_split, d.revision, num_labels),
            load_split(d.source, d.config, d.eval_split, d.revision, num_labels))


def check_local_data(d: DataParams, num_labels: int, seeds: Sequence[int]) -> None:
    """What prepare would refuse in a local data folder, for every seed: validate's check, made before DVC removes
    any stage's outputs (hub data is checked by prepare, when it is downloaded)."""
    if not is_local(d.source, "data.source", "folder of split files"):
        return
    train, evaluation = load_splits(d, num_labels)
    for seed in seeds:
        draw_train(train, d.train_size, seed, origin=f"{d.train_split} split")
    take_eval(evaluation, d.eval_rows, origin=f"{d.eval_split} split")


def _read_local_split(folder: Path, split: str) -> pd.DataFrame:
    found = [folder / f"{split}{ext}" for ext in LOCAL_FORMATS if (folder / f"{split}{ext}").is_file()]
    if not found:
        kinds = ", ".join(f"{split}{ext}" for ext in LOCAL_FORMATS)
        raise RankcertError(f"no file for split {split!r} in {folder}: expected one of {kinds}")
    if len(found) > 1:
        raise RankcertError(f"split {split!r} is ambiguous in {folder}: {', '.join(p.name for p in found)}")
    file = found[0]
    kind = LOCAL_FORMATS[file.suffix]
    try:
        if kind == "parquet":
            return pd.read_parquet(file)
        if kind == "jsonl":
            return pd.read_json(file, lines=True)
        return pd.read_csv(file, sep="\t" if kind == "tsv" else ",", keep_default_na=False, quoting=3 if kind == "tsv" else 0)
    except Exception as err:  # pandas raises many types for unreadable files
        raise RankcertError(f"cannot read {file}: {one_line(err)}") from err


def _read_hub_split(name: str, config: str, split: str, revision: str) -> pd.DataFrame:
    import datasets  # heavy; only the hub path needs it

    try:
        table = datasets.load_dataset(name, config, split=split, revision=revision)
    except Exception as err:  # offline, unknown id, missing split: all end the same way for the user
        raise RankcertError(
            f"cannot load dataset {name!r}/{config!r} split {split!r} from the hub "
            f"({type(err).__name__}); set data.source to a local directory of split files"
        ) from err
    return table.to_pandas()


def validate_frame(frame: pd.DataFrame, origin: str, num_labels: int = 2) -> pd.DataFrame:
    """Keep `sentence` and `label`; refuse data without text or with labels the model can't predict."""
    missing = [c for c in ("sentence", "label") if c not in frame.columns]
    if missing:
        raise RankcertError(f"{origin}: missing column(s) {missing}; found {list(frame.columns)}")
    frame = frame[["sentence", "label"]].reset_index(drop=True)
    labels = pd.to_numeric(frame["label"], errors="coerce")
    bad = ~labels.isin(range(num_labels))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = frame["label"].iloc[row]
        value = value.item() if hasattr(value, "item") else value
        raise RankcertError(f"{origin}: labels must be {label_names(num_labels)}; row {row} has {value!r} "
                            f"(model.num_labels is {num_labels})")
    text = frame["sentence"]
    empty = text.isna() | (text.astype(str).str.strip() == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise RankcertError(f"{origin}: empty sentence in row {row}")
    return pd.DataFrame({"sentence": text.astype(str), "label": labels.astype("int64")})


def check_every_label_occurs(frame: pd.DataFrame, origin: str, num_labels: int) -> None:
    """A label no row has is a model.num_labels that doesn't fit the data (its head would have an untrained class)."""
    present = sorted(int(k) for k in frame["label"].unique())
    missing = [k for k in range(num_labels) if k not in present]
    if missing:
        fix = (f"set model.num_labels to {len(present)}" if present == list(range(len(present)))
               else "check the data")
        raise RankcertError(f"{origin}: model.num_labels is {num_labels} but no row has label "
                            f"{', '.join(map(str, missing))} (the labels are {', '.join(map(str, present))}); {fix}")


def label_counts(frame: pd.DataFrame, num_labels: int) -> dict:
    """For the manifest: how many positives (two labels), or how many of each label."""
    if num_labels == 2:
        return {"positive": int(frame["label"].sum())}
    return {"label_counts": [int((frame["label"] == k).sum()) for k in range(num_labels)]}


def draw_train(frame: pd.DataFrame, size: int, seed: int, origin: str = "train split") -> pd.DataFrame:
    """`size` rows drawn without replacement with `seed`."""
    if size > len(frame):
        raise RankcertError(f"data.train_size is {size} but the {origin} has only {len(frame)} rows")
    rows = np.random.default_rng(seed).permutation(len(frame))[:size]
    drawn = frame.iloc[rows].reset_index(drop=True)
    if drawn["label"].nunique() < 2:
        raise RankcertError(f"the {size} train examples drawn with seed {seed} from the {origin} all have label "
                            f"{drawn['label'].iloc[0]}; a classifier needs both labels (check the data)")
    return drawn


def take_eval(frame: pd.DataFrame, size: int | None, origin: str = "eval split") -> pd.DataFrame:
    """The first `size` rows (None: all): the same eval examples for every seed and variant."""
    size = len(frame) if size is None else size
    if size > len(frame):
        raise RankcertError(f"data.eval_size is {size} but the {origin} has only {len(frame)} rows")
    return frame.iloc[:size].reset_index(drop=True)


def encode(frame: pd.DataFrame, tokenizer, max_length: int) -> Encoded:
    """Tokenize once, padded to the longest example (at most `max_length`)."""
    batch = tokenizer(
        list(frame["sentence"]), truncation=True, max_length=max_length, padding="longest", return_tensors="np"
    )
    return Encoded(
        input_ids=np.ascontiguousarray(batch["input_ids"], dtype=np.int64),
        attention_mask=np.ascontiguousarray(batch["attention_mask"], dtype=np.int64),
        labels=np.array(frame["label"], dtype=np.int64),  # a copy: pandas may hand out read-only views
    )


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over the drawn rows, in order: changes when any sentence, label or the order changes."""
    digest = hashlib.sha256()
    for sentence, label in zip(frame["sentence"], frame["label"]):
        digest.update(f"{int(label)}\t{sentence}\n".encode())
    return digest.hexdigest()


def save_encoded(encoded: Encoded, path: Path) -> None:
    save_file(encoded.as_dict(), str(path))


def load_encoded(path: str | Path, model_name: str | None = None) -> Encoded:
    """Tensors written by the prepare stage (safetensors: nothing is unpickled); with `model_name`, refused
    unless the sequences fit that model."""
    path = Path(path)
    if not path.is_file():
        raise RankcertError(f"{path} not found; run the prepare stage first")
    tensors = {k: np.array(v) for k, v in load_file(str(path)).items()}  # writable copies, as torch wants
    if model_name is not None:
        check_sequence_width(model_name, tensors["input_ids"].shape[1], path)
    return Encoded(tensors["input_ids"], tensors["attention_mask"], tensors["labels"], path.resolve())


def load_tokenizer(name: str, revision: str = "main"):
    """The model's tokenizer, from a local directory or the hub at `revision`."""
    from transformers import AutoTokenizer

    revision = hub_revision(name, revision, "model.name", "saved model folder")
    try:
        return AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise hub_error(name, err) from err
