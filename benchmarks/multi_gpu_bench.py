"""Many seeds on one GPU, then on N GPUs of the same machine: serial `dvc repro` vs rankcert.tools.parallel.

    python benchmarks/multi_gpu_bench.py --model DIR --data DIR --seeds 12 --gpus 4 --out RESULT.json \\
        --set train.lr=5e-4 --set model.target_modules=query,key,value,attention.output.dense \\
        --set model.head_modules=classifier

Two identical fresh workspaces, the warm worker in both (stopped before each run, so each pays its start).
`--phase one` may be given several times with `--part i/k` (a device call's time limit): part i runs the
i-th share of the seeds' targets; the last part runs the whole `dvc repro` (certify included); their wall
times add up. Then `--phase many` (the parallel tool with N jobs), then `--phase report`, which writes JSON
with the contract keys `device`, `gpus`, `seeds`, `adapters`, `wall_s_1gpu`, `wall_s_ngpu`, `speedup`, and
the verdict table of the N-GPU run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.warm_bench import device_name, outputs, real_data_arguments, real_data_params  # noqa: E402
from rankcert.certification import certificate  # noqa: E402
from rankcert.runtime.layout import LAYOUT  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402
from rankcert.tools.parallel import seed_targets  # noqa: E402

FIRST_SEEDS = [42, 123, 456]


def seeds_for(count: int) -> list[int]:
    """The spec's three seeds first, then 1000, 1001, ... (fixed, so reruns compare)."""
    return (FIRST_SEEDS + list(range(1000, 1000 + count)))[:count]


def workspace(folder: Path, args) -> Path:
    if folder.exists():
        return folder
    params = real_data_params(args.model, args.data, args.set)
    params["seeds"] = seeds_for(args.seeds)
    return demo.create_workspace(folder, params, with_demo_assets=False)


def timed(command: list[str], ws: Path, env: dict, cold_worker: bool) -> tuple[float, str]:
    """(wall seconds, output) of `command` in `ws`; the output is kept in ws/bench-<time>.log too."""
    if cold_worker:  # each run pays the worker's start once
        subprocess.run([sys.executable, "-m", "rankcert.worker", "stop"], cwd=ws, env=env, capture_output=True)
        time.sleep(1.0)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ws, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (ws / f"bench-{int(started)}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def record(state: Path, key: str, seconds: float) -> None:
    data = json.loads(state.read_text()) if state.is_file() else {}
    data.setdefault(key, []).append(seconds)
    state.write_text(json.dumps(data))


def verdicts(ws: Path) -> dict:
    """Every variant's verdicts and figures, the pass rate and spread beside them; the certified flag and level."""
    found = certificate.read(ws / LAYOUT.certificate, ws / LAYOUT.certificate_details)
    return {name: {**dataclasses.asdict(v), "pass_rate": found.details.variants[name].pass_rate,
                   "std_delta": found.details.variants[name].std_delta}
            for name, v in found.metrics.variants.items()} | {"certified": found.metrics.certified,
                                                               "level": found.metrics.level}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    real_data_arguments(parser)
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--gpus", type=int, default=4)
    parser.add_argument("--phase", choices=["one", "many", "report"], required=True)
    parser.add_argument("--part", default="1/1", help="with --phase one: i/k")
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-multi-gpu-bench"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    one, many, state = args.root / "one", args.root / "many", args.root / "times.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.phase == "one":
        ws = workspace(one, args)
        index, parts = (int(x) for x in args.part.split("/"))
        seeds = seeds_for(args.seeds)
        share = seeds[(index - 1) * len(seeds) // parts:index * len(seeds) // parts]
        targets = [] if index == parts else [t for s in share for t in seed_targets(s)]
        one_gpu = dict(env, CUDA_VISIBLE_DEVICES=env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0])
        record(state, "one", timed(["dvc", "repro", *targets], ws, one_gpu, cold_worker=index == 1)[0])
    elif args.phase == "many":
        ws = workspace(many, args)
        command = [sys.executable, "-m", "rankcert.tools.parallel", "--jobs", str(args.gpus)]
        record(state, "many", timed(command, ws, env, cold_worker=True)[0])
    else:
        times = json.loads(state.read_text())
        wall_1, wall_n = sum(times["one"]), sum(times["many"])
        variants = yaml.safe_load((many / "params.yaml").read_text())["variants"]
        result = {"device": device_name(), "gpus": args.gpus, "seeds": args.seeds,
                  "adapters": args.seeds * (1 + len(variants)), "wall_s_1gpu": round(wall_1, 2),
                  "wall_s_ngpu": round(wall_n, 2), "speedup": round(wall_1 / wall_n, 2),
                  "wall_s_1gpu_parts": times["one"], "identical_predictions_and_metrics": outputs(one) == outputs(many),
                  "verdicts": verdicts(many), "packages": package_versions()}
        args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(json.dumps({k: result[k] for k in ("device", "gpus", "seeds", "wall_s_1gpu", "wall_s_ngpu", "speedup",
                                                  "identical_predictions_and_metrics")}))


if __name__ == "__main__":
    main()
