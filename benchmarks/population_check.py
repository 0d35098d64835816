"""The population verdict checked against a real population: a pool of many seeds, and subsets drawn from it.

    python benchmarks/population_check.py pool --seeds 42,123,...  --model DIR --data DIR --set k=v ... \\
        --per-gpu 4 --out POOL.tgz                    # on a GPU machine: the pool's predictions, packed
    python benchmarks/population_check.py check --pool A.tgz [B.tgz ...] --out RESULT.json   # on any machine

`pool` runs the canonical pipeline over the given seeds (`rankcert.tools.parallel --per-gpu K`) and packs its
params, predictions and certify.json as benchmarks/per_seed_bench.py --keep-predictions does. `check` treats the
pooled seeds as the population: each variant's true p-quantile of Δ is the pool's, so the truth of "at least a
share p of runs have Δ ≥ −tolerance" is known; from many random subsets it measures how often the population
verdict at each look, and the sequential procedure over the looks, says SAFE where the truth is not (and UNSAFE
where it is), and how many seeds the procedure used. Writes the contract keys `pool_seeds`, `by_look`,
`false_safe_rate`, `mean_seeds_used` to RESULT.json and a short RESULT.md beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.multi_gpu_bench import timed, verdicts  # noqa: E402
from benchmarks.per_seed_bench import keep_predictions, workspace  # noqa: E402
from benchmarks.warm_bench import device_name  # noqa: E402
from rankcert.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402


def pool(args) -> None:
    seeds = [int(s) for s in args.seeds.split(",")]
    ws = workspace(args.root / "pool", args, demo.PROJECT, seeds)
    command = [sys.executable, "-m", "rankcert.tools.parallel", "--per-gpu", str(args.per_gpu)]
    started = time.perf_counter()
    seconds, output = timed(command, ws, dict(os.environ, PYTHONUNBUFFERED="1"), True)
    keep_predictions(ws, args.out)
    facts = {"device": device_name(), "packages": package_versions(), "pool_seeds": seeds, "pool_s": round(seconds, 2),
             "per_gpu": args.per_gpu, "stages": output.count("Running stage '"), "verdicts": verdicts(ws),
             "wall_s": round(time.perf_counter() - started, 2)}
    args.out.with_suffix(".json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in facts.items() if k != "packages"}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["pool"])
    parser.add_argument("--seeds", help="pool: the seeds, comma-separated")
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--set", action="append", default=[], help="params override key=value (lists: a,b)")
    parser.add_argument("--per-gpu", type=int, default=4)
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-population"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    {"pool": pool}[args.phase](args)


if __name__ == "__main__":
    main()
