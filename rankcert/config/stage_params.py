"""The params each per-seed stage reads, declared once, and their values as the stage's fingerprint file.

DVC rewrites a stage's whole lock file after every stage, and a `params:` list puts every value it names into the
lock entry of every seed's stage (64 seeds: 246 KB of lock file with them, 211 KB without; docs/performance.md).
So the per-seed stages depend on data/params/<stage>.json instead, written by validate with exactly these
values: a stage reruns exactly when a value it reads changes, and its lock entry holds one hash.
tests/stages/test_stage_params.py records that each stage reads exactly these; certify, one stage, keeps its
`params:` list in dvc.yaml.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rankcert.runtime.errors import RankcertError

RECIPE = ("model.name", "model.revision", "model.target_modules", "model.head_modules", "model.num_labels")
SEED_STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "prepare": ("model.name", "model.revision", "model.max_length", "model.num_labels", "data"),
    "probe": (*RECIPE, "train", "runtime", "probe"),
    "compress": (*RECIPE, "train", "runtime", "probe", "compress", "variants"),
    "evaluate": ("model.name", "model.revision", "model.num_labels", "runtime.device", "runtime.cpu_threads",
                 "evaluate", "variants"),
}


def lookup(raw: dict, dotted: str) -> Any:
    """params.yaml's value at a dotted key, as DVC reads a `params:` entry."""
    value: Any = raw
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise RankcertError(f"params.yaml has no {dotted}: restore it (the {dotted.split('.')[0]} section of "
                                "the canonical params.yaml shows its shape)")
        value = value[part]
    return value


def stage_params(raw: dict, stage: str) -> dict[str, Any]:
    """What data/params/<stage>.json holds: each declared key and its value in params.yaml."""
    return {"stage": stage, "params": {key: lookup(raw, key) for key in SEED_STAGE_PARAMS[stage]}}


def check_current(raw: dict, stage: str, written: Path) -> None:
    """A stage run alone (`dvc repro -f -s`) after params.yaml changed would record the old params file as its
    input: refuse, unless validate has written what params.yaml now says. No file: not run by DVC."""
    if not written.is_file():
        return
    recorded = json.loads(written.read_text()).get("params", {})
    changed = [key for key, value in stage_params(raw, stage)["params"].items() if recorded.get(key) != value]
    if changed:
        raise RankcertError(f"params.yaml changed since validate wrote {written} ({', '.join(changed)}): run "
                            "`dvc repro` so that validate checks them first")
