"""DVC's own time per seed, with the training taken out: the pipeline's stage shapes under real `dvc repro`.

    python benchmarks/dvc_overhead_bench.py --seeds 64 --jobs 16 --shapes four_stages,four_files --out RESULT.json

Each shape is a scratch git + DVC repository (core.autostage on, as the project's .dvc/config) whose per-seed
stages have the project's deps and outs; each stage's command only writes the files a real seed writes (their
count and sizes are a MiniLM-sized demo seed's). What is left is DVC: start-up, index, status, hashing and caching
the outputs, the run-cache, the lock file rewrite, all but the command itself under the repository lock. Seeds
run the way `rankcert.tools.parallel` runs them: `dvc --wait-for-lock repro --single-item <the seed's stages>`,
--jobs at once. Shapes: `four_stages` (before 2026-12-08: prepare, probe, compress, evaluate @seed in the root
dvc.yaml, one dvc.lock); `four_files` (the project's now: each kind in a dvc.yaml of its own, so each dvc.lock
holds one kind); `one_stage` (a seed's four steps as one stage, its inputs and outputs once). `s_per_seed` is the
wall time over the seeds: the floor DVC puts under a run of that many seeds, however fast the GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lockfile_bench import merged, project_stages  # noqa: E402
from rankcert.config.stage_params import SEED_STAGE_PARAMS  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
KINDS = tuple(SEED_STAGE_PARAMS)
SHAPES = ("four_stages", "four_files", "one_stage")
VARIANTS = ("per_layer", "truncated_per_layer", "uniform_r16", "uniform_r20", "uniform_r24")
ADAPTER = {"README.md": 5148, "adapter_config.json": 2526}
# the files a MiniLM-sized demo seed writes, by step: path under the step's output folder -> bytes
WRITES: dict[str, dict[str, int]] = {
    "prepare": {"data/prepared/{seed}/train.pt": 260_000, "data/prepared/{seed}/eval.pt": 55_000,
                "data/prepared/{seed}/manifest.json": 1_200},
    "probe": {**{f"data/probe/{{seed}}/adapter/{name}": size for name, size in ADAPTER.items()},
              "data/probe/{seed}/adapter/adapter_model.safetensors": 150_920, "data/probe/{seed}/run.json": 1_601,
              "data/probe/{seed}/spectra.json": 8_673, "data/probe/{seed}/train_log.csv": 1_630},
    "compress": {path: size for variant in VARIANTS for path, size in {
        **{f"data/variants/{{seed}}/{variant}/adapter/{name}": s for name, s in ADAPTER.items()},
        f"data/variants/{{seed}}/{variant}/adapter/adapter_model.safetensors": 100_000,
        f"data/variants/{{seed}}/{variant}/plan.json": 1_000, f"data/variants/{{seed}}/{variant}/run.json": 1_600,
        f"data/variants/{{seed}}/{variant}/train_log.csv": 1_620}.items()},
    "evaluate": {path: size for name in ("probe", *VARIANTS) for path, size in {
        f"data/eval/{{seed}}/{name}.csv": 3_500, f"metrics/eval/{{seed}}/{name}.json": 400}.items()},
}
FAKE_STAGE = f"""import random, sys
from pathlib import Path
WRITES = {WRITES!r}
kinds, seed = sys.argv[1].split(","), int(sys.argv[2])
for kind in kinds:
    for n, (path, size) in enumerate(sorted(WRITES[kind].items())):
        out = Path(path.format(seed=seed))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(random.Random(seed * 1000 + n).randbytes(size))
"""


def seed_stages(shape: str, seed: int) -> list[str]:
    if shape == "one_stage":
        return [f"seed@{seed}"]
    if shape == "four_files":
        return [f"kinds/{kind}/dvc.yaml:{kind}@{seed}" for kind in KINDS]
    return [f"{kind}@{seed}" for kind in KINDS]


def stage_body(stage: dict, kinds: list[str]) -> dict:
    return {"cmd": f"python fake_stage.py {','.join(kinds)} ${{item}}", "deps": stage["deps"], "outs": stage["outs"]}


def write_pipeline(root: Path, shape: str) -> None:
    stages = {name: {"do": {k: v for k, v in stage["do"].items() if k != "wdir"}} if "do" in stage else stage
              for name, stage in project_stages().items()}  # the paths are the root's, as in the scratch repo
    if shape == "one_stage":
        body = stage_body(merged(stages), list(KINDS))
        (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"seed": {"foreach": "${seeds}", "do": body}}}))
        return
    bodies = {kind: stage_body(stages[kind]["do"], [kind]) for kind in KINDS}
    if shape == "four_stages":
        (root / "dvc.yaml").write_text(yaml.safe_dump(
            {"stages": {kind: {"foreach": "${seeds}", "do": body} for kind, body in bodies.items()}}))
        return
    for kind, body in bodies.items():  # paths stay the root's: wdir, and the seeds from the root's params.yaml
        folder = root / "kinds" / kind
        folder.mkdir(parents=True)
        (folder / "dvc.yaml").write_text(yaml.safe_dump(
            {"vars": ["../../params.yaml"],
             "stages": {kind: {"foreach": "${seeds}", "do": {"wdir": "../..", **body}}}}))


def scratch_repo(root: Path, shape: str, seeds: list[int], autostage: bool) -> None:
    def sh(*command: str) -> None:
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    sh("git", "init", "-q")
    sh("dvc", "init", "-q")
    if autostage:  # as the project's .dvc/config: DVC stages what each run changes in git
        sh("dvc", "config", "core.autostage", "true")
    (root / "params.yaml").write_text(yaml.safe_dump({"seeds": seeds}))
    (root / "fake_stage.py").write_text(FAKE_STAGE)
    for folder, names in (("data/code", KINDS), ("data/params", KINDS)):
        for name in names:
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"{name}.json").write_text(json.dumps({"stage": name}))
    (root / "data/params/seed.json").write_text(json.dumps({"stage": "seed"}))
    (root / "data/inputs").mkdir(parents=True)
    (root / "data/inputs/validated.json").write_text("{}")
    write_pipeline(root, shape)
    sh("git", "add", "-A")
    sh("git", "-c", "user.name=bench", "-c", "user.email=bench@rankcert", "commit", "-qm", "scratch")


def run_seeds(root: Path, shape: str, seeds: list[int], jobs: int) -> list[float]:
    """Each seed's `dvc repro`, `jobs` at a time; the seconds each took."""
    pending, running, took = list(seeds), {}, []
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    while pending or running:
        while pending and len(running) < jobs:
            seed = pending.pop(0)
            command = ["dvc", "--wait-for-lock", "repro", "--single-item", *seed_stages(shape, seed)]
            running[seed] = (subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, text=True), time.perf_counter())
        for seed, (proc, started) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[seed]
            if proc.returncode != 0:
                raise SystemExit(f"{shape}: seed {seed} failed: {proc.stderr.read()[-500:]}")
            took.append(time.perf_counter() - started)
        time.sleep(0.05)
    return took


def measure(shape: str, seeds: list[int], jobs: int, autostage: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scratch_repo(root, shape, seeds, autostage)
        started = time.perf_counter()
        took = run_seeds(root, shape, seeds, jobs)
        wall = time.perf_counter() - started
        lock_kb = sum(p.stat().st_size for p in root.rglob("dvc.lock")) / 1024
    return {"wall_s": round(wall, 1), "s_per_seed": round(wall / len(seeds), 2), "lock_kb": round(lock_kb, 1),
            "median_seed_repro_s": round(statistics.median(took), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--no-autostage", action="store_true", help="without the project's core.autostage")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    seeds = [42, 123, 456, *range(1000, 1000 + args.seeds)][:args.seeds]
    rows = {}
    for shape in args.shapes.split(","):
        rows[shape] = measure(shape, seeds, args.jobs, not args.no_autostage)
        print(f"[dvc-overhead] {shape}: {json.dumps(rows[shape])}", flush=True)
    result = {"device": f"CPU: {platform.machine()}, {len(os.sched_getaffinity(0))} cores", "seeds": args.seeds,
              "jobs": args.jobs, "autostage": not args.no_autostage, "versions": package_versions(), "shapes": rows}
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
