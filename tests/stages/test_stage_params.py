"""Each stage reads exactly the params declared for it (a per-seed stage's in rankcert.config.stage_params, whose
values validate writes to its params file; certify's in dvc.yaml): every stage runs once on the demo profile with
its Params wrapped in a recorder, and the values it touched are compared with its declared list."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from rankcert.config import entrypoint
from rankcert.config.stage_params import SEED_STAGE_PARAMS
from stages import certify, compress, evaluate, prepare, probe
from tests.helpers import PROJECT, pipeline_stages

DVC = pipeline_stages()
# Params properties and methods, and the field they read
PROPERTIES = {"variant_names": "variants", "eval_rows": "eval_size", "settle_sequence": "settle.next_seed"}


class Recorder:
    """Wraps a params dataclass; records the dotted name of every field read through it."""

    def __init__(self, obj, path: str, seen: set[str]):
        self._obj, self._path, self._seen = obj, path, seen

    def __getattr__(self, name: str):
        value = getattr(self._obj, name)
        full = f"{self._path}.{PROPERTIES.get(name, name)}".lstrip(".")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return Recorder(value, full, self._seen)
        self._seen.add(full)
        return value


def declared(stage: str) -> list[str]:
    if stage in SEED_STAGE_PARAMS:
        return list(SEED_STAGE_PARAMS[stage])
    body = DVC[stage].get("do", DVC[stage])
    return body["params"]


def covered(read: str, params: list[str]) -> bool:
    return any(read == p or read.startswith(p + ".") for p in params)


@pytest.fixture
def recorded(monkeypatch):
    """Patch where a stage makes its Params (its own load_params; the harness's params_from_dict, for a per-seed
    stage); return the set its run fills."""
    originals = {}

    def patch(module) -> set[str]:
        seen: set[str] = set()
        owner, name = (module, "load_params") if hasattr(module, "load_params") else (entrypoint, "params_from_dict")
        real = originals.setdefault(owner, getattr(owner, name))  # patched again: wrap the real one, not a recorder
        monkeypatch.setattr(owner, name, lambda source: Recorder(real(source), "", seen))
        return seen
    return patch


def test_every_stage_reads_exactly_its_declared_params(tmp_path, raw_params, monkeypatch, recorded):
    raw_params["train"].update(steps=4, log_every=2)
    raw_params["seeds"] = [42]
    raw_params["variants"] += ["uniform_r2", "per_layer_e95", "truncated_per_layer_e95"]  # every kind of variant
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    (tmp_path / "plots").symlink_to(PROJECT / "plots")
    (tmp_path / "policies").symlink_to(PROJECT / "policies")
    runs = {
        "prepare": (prepare, ["--seed", "42"]),
        "probe": (probe, ["--seed", "42"]),
        "compress": (compress, ["--seed", "42"]),
        "evaluate": (evaluate, ["--seed", "42"]),
        "certify": (certify, ["--plots", "plotdata", "--figures", "figures"]),
    }
    for stage, run in runs.items():
        recorders = []
        for module, argv in run if isinstance(run, list) else [run]:
            recorders.append(recorded(module))
            module.main(argv)
        seen = set().union(*recorders)
        params = declared(stage)
        assert seen, stage
        assert [r for r in sorted(seen) if not covered(r, params)] == [], f"{stage} reads undeclared params"
        assert [p for p in params if not any(covered(r, [p]) for r in seen)] == [], f"{stage} declares unread params"
