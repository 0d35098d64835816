"""DVC's dvc.lock rewrite, the cost every stage pays under the repository lock, by seed count and entry shape.

    python benchmarks/lockfile_bench.py --seeds 16,32,64,128 --out RESULT.json

DVC re-reads and rewrites the whole dvc.lock (round-trip YAML) after each stage, holding the repository lock, so
seeds' stages running at once take turns there. This builds the lock file a run of N seeds leaves: each per-seed
stage's entry from dvc.yaml (its cmd, deps and outs with a hash and size each), in two shapes, side by side:
`params_files` (today's: each stage depends on data/params/<stage>.json) and `params_lists` (before: the stage
listed its params, and DVC copied their values from params.yaml into every seed's entry), and, not built, the
shape the number argues for, `one_stage_per_seed` (the four stages of a seed as one: one rewrite a seed, its
inputs and outputs once). For each it times
DVC's own update (dvc.utils.serialize.modify_yaml adding one stage, as Lockfile.dump_stages does), median of
--repeats. `per_seed_floor_s` is what a from-nothing run of N seeds spends in those rewrites per seed (4 stages a
seed, the file growing linearly: 4 x the rewrite at N/2 seeds; 1 x for one stage a seed), however many seeds run
at once.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rankcert.config.stage_params import SEED_STAGE_PARAMS, lookup  # noqa: E402
from rankcert.runtime.layout import LAYOUT  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent


def hashed(path: str, directory: bool) -> dict:
    md5 = hashlib.md5(path.encode()).hexdigest() + (".dir" if directory else "")
    entry = {"hash": "md5", "md5": md5, "path": path, "size": 100_000 + len(path)}
    return entry | ({"nfiles": 3} if directory else {})


def entry(stage: dict, seed: int, raw: dict, name: str, with_params: bool) -> dict:
    """What DVC writes for `name@seed`: deps and outs sorted by path, params (before) by file."""
    def resolved(paths):
        return sorted(p.replace("${item}", str(seed)) for p in paths)
    body = {"cmd": stage["cmd"].replace("${item}", str(seed)),
            "deps": [hashed(p, not p.endswith(".json")) for p in resolved(stage["deps"])]}
    if with_params:
        body["deps"] = [d for d in body["deps"] if not d["path"].startswith("data/params/")]
        body["params"] = {"params.yaml": {key: lookup(raw, key) for key in sorted(SEED_STAGE_PARAMS[name])}}
    body["outs"] = [hashed(p, True) for p in resolved(stage["outs"])]
    return body


def merged(stages: dict) -> dict:
    """The four per-seed stages as one: their deps that no other of them writes, and all their outs."""
    outs = [o for name in SEED_STAGE_PARAMS for o in stages[name]["do"]["outs"]]
    deps = {d for name in SEED_STAGE_PARAMS for d in stages[name]["do"]["deps"]
            if not any(d == o or d.startswith(o + "/") for o in outs) and not d.startswith("data/params/")}
    return {"cmd": "python -m rankcert.worker run stages.seed --seed ${item}",
            "deps": sorted(deps) + ["data/params/seed.json"], "outs": outs}


def project_stages() -> dict:
    """Every stage the project declares, by name: the root dvc.yaml's and each per-seed kind's."""
    return {name: stage for path in LAYOUT.pipeline_files
            for name, stage in yaml.safe_load((PROJECT / path).read_text())["stages"].items()}


def lock_file(seeds: int, shape: str) -> dict:
    stages = project_stages()
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    lock = {"schema": "2.0", "stages": {}}
    for seed in [42, 123, 456, *range(1000, 1000 + seeds)][:seeds]:
        if shape == "one_stage_per_seed":
            lock["stages"][f"seed@{seed}"] = entry(merged(stages), seed, raw, "seed", False)
            continue
        for name in SEED_STAGE_PARAMS:
            lock["stages"][f"{name}@{seed}"] = entry(stages[name]["do"], seed, raw, name, shape == "params_lists")
    return lock


def rewrite_s(path: Path, repeats: int) -> float:
    from dvc.utils.serialize import modify_yaml

    times = []
    for i in range(repeats):
        started = time.perf_counter()
        with modify_yaml(path) as data:
            data["stages"][f"extra@{i}"] = {"cmd": "true"}
        times.append(time.perf_counter() - started)
    return statistics.median(times)


SHAPES = ("params_lists", "params_files", "one_stage_per_seed")


def measure(seeds: int, shape: str, repeats: int, folder: Path) -> dict:
    result = {}
    for count in (seeds, max(1, seeds // 2)):
        path = folder / f"dvc-{count}-{shape}.lock"
        path.write_text(yaml.safe_dump(lock_file(count, shape), sort_keys=False))
        result[count] = (rewrite_s(path, repeats), path.stat().st_size)
    (full_s, size), (half_s, _) = result[seeds], result[max(1, seeds // 2)]
    stages_per_seed = 1 if shape == "one_stage_per_seed" else len(SEED_STAGE_PARAMS)
    return {"lock_kb": round(size / 1024, 1), "rewrite_s": round(full_s, 3),
            "per_seed_floor_s": round(stages_per_seed * half_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="16,32,64,128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seeds in (int(s) for s in args.seeds.split(",")):
            rows[seeds] = {shape: measure(seeds, shape, args.repeats, Path(tmp)) for shape in SHAPES}
            rows[seeds]["floor_ratio_lists_to_files"] = round(rows[seeds]["params_lists"]["per_seed_floor_s"]
                                                              / rows[seeds]["params_files"]["per_seed_floor_s"], 2)
            print(f"[lockfile] {seeds} seeds: {json.dumps(rows[seeds])}", flush=True)
    result = {"device": f"CPU: {platform.processor() or platform.machine()}, 1 thread (DVC's YAML is pure Python)",
              "versions": package_versions(), "by_seeds": rows}
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
