"""Who an adapter is: its run record (run.json) names the adapter, seed, ranks per module, base model and the
training its weights had, and a hash covers them with the adapter's files, so a folder is checked against the
place it is read from and its training facts can't be edited unseen.

The adapter's content hash alone (sources.adapter_digest) says a folder holds the files its stage wrote; it
cannot tell that uniform_r16's folder now sits where uniform_r20's should, that an adapter_config.json came
from another variant, or that the adapter was trained on another base. A direct run, a restored backup or a
sync tool is not DVC: evaluate and certify check this themselves. Standard library only (certify imports no
torch).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from rankcert.config import codec, records
from rankcert.config.params import ModelParams
from rankcert.config.records import AdapterRun, Training
from rankcert.config.variants import parse_variant
from rankcert.inputs.sources import adapter_digest
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import ADAPTER, PROBE, RUN_RECORD
from rankcert.runtime.runfacts import model_fingerprint
from rankcert.runtime.text import rank_summary

# what record_sha256 covers: who the adapter is, and the training the certificate states it had
IDENTITY = ("adapter", "seed", "ranks", "base_model", "adapter_sha256", "training")


def base_model(model: ModelParams) -> str:
    """The base model's identity: a local folder's content fingerprint, or the hub id at its revision."""
    return _base_model(model.name, model.revision)


@functools.cache  # several adapters per stage, one base: the model's files are read once
def _base_model(name: str, revision: str) -> str:
    found = model_fingerprint(name)
    return f"{found}@{revision}" if found.startswith("hub:") else found


def record(name: str, seed: int, adapter_folder: Path, base: str, training: Training) -> dict:
    """The AdapterRun fields naming the adapter just saved in `adapter_folder` and its training, with the hash
    that covers them."""
    identity = {"adapter": name, "seed": seed, "ranks": records.adapter_ranks(adapter_folder), "base_model": base,
                "adapter_sha256": adapter_digest(adapter_folder), "training": training}
    return {**identity, "record_sha256": _digest(identity)}


def verified_run(run: Path, seed: int, name: str, base: str) -> AdapterRun:
    """The run record of run folder `run`, which must hold `name`'s run of `seed` on base model `base`: its
    record intact, in the right place, of these files, with the ranks its name says, on this base."""
    found = records.read(run / RUN_RECORD, AdapterRun)
    claims = f"it claims to be {found.adapter!r} of seed {found.seed}"
    if found.record_sha256 != _digest({key: getattr(found, key) for key in IDENTITY}):
        raise RankcertError(f"{run}/run.json was edited after its stage wrote it ({claims}, but its record_sha256 "
                            "doesn't cover that); `dvc checkout` or `dvc repro` restores it")
    if (found.adapter, found.seed) != (name, seed):
        raise RankcertError(f"{run} should hold {name!r} of seed {seed} but {claims}: folders were swapped, moved "
                            "or copied; `dvc checkout` or `dvc repro` puts each back")
    digest = adapter_digest(run / ADAPTER)
    if digest != found.adapter_sha256:
        raise RankcertError(f"{run / ADAPTER} is not the adapter its stage wrote ({claims}; run.json records "
                            f"sha256 {found.adapter_sha256}, the files hash to {digest}): a file was changed or "
                            "copied from another adapter afterwards; `dvc checkout` or `dvc repro` restores it")
    _check_named_rank(run, name, found.ranks, claims)
    if found.base_model != base:
        raise RankcertError(f"{run}: {claims}, trained on base model {found.base_model}, but model.name is "
                            f"{base}: an adapter for another base; rerun its stage (dvc repro)")
    return found


def _check_named_rank(run: Path, name: str, ranks: dict[str, int], claims: str) -> None:
    """A uniform variant's name says its rank (uniform_r20, truncated_uniform_r20): every module must have it."""
    if name == PROBE:
        return
    variant = parse_variant(name)
    rank = (variant.truncates or variant).uniform_rank
    if rank is not None and set(ranks.values()) != {rank}:
        raise RankcertError(f"{run}: {name!r} means rank {rank} everywhere, but its adapter has ranks "
                            f"{rank_summary(ranks)} ({claims}); `dvc checkout` or `dvc repro` restores it")


def _digest(identity: dict) -> str:
    return hashlib.sha256(codec.text(identity).encode("utf-8")).hexdigest()
