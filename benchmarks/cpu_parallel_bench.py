"""The real pipeline on the CPU, two code trees side by side: the demo profile's N seeds through
`rankcert.tools.parallel --jobs J` from nothing, wall time per tree and whether their outputs are the same bytes.

    git worktree add /tmp/before <commit>
    python benchmarks/cpu_parallel_bench.py --tree /tmp/before --tree . --seeds 16 --jobs 4 --out RESULT.json

Each tree makes its own demo workspace (its own dvc.yaml, stages and rankcert: rankcert.tools.demo copies them)
with seeds 42, 123, 456, 1000, ..., a 40-step recipe and one torch thread a stage, and runs the parallel tool
there, its warm worker stopped first (multi_gpu_bench.timed). `identical` compares every per-seed output file (adapters,
train logs, predictions, per-adapter metrics) and certify.json between the trees.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.multi_gpu_bench import timed  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402

OUTPUTS = ("data/prepared", "data/probe", "data/variants", "data/eval", "metrics/eval")
MAKE_WORKSPACE = """import json, sys
sys.path.insert(0, sys.argv[1])
from rankcert.tools import demo
params = demo.deep_merge(demo.demo_params(), {"train": {"steps": 40, "log_every": 5}, "runtime": {"cpu_threads": 1}})
n = int(sys.argv[3])
params["seeds"] = [42, 123, 456, *range(1000, 1000 + n)][:n]
params["certify"]["population"]["looks"] = sorted({*[k for k in params["certify"]["population"]["looks"] if k < n], n})
demo.create_workspace(__import__("pathlib").Path(sys.argv[2]), params)
"""


def digests(ws: Path) -> dict[str, str]:
    files = [p for folder in OUTPUTS for p in sorted((ws / folder).rglob("*")) if p.is_file()
             and p.name != ".gitignore"] + [ws / "metrics" / "certify.json"]
    return {p.relative_to(ws).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run_tree(tree: Path, ws: Path, seeds: int, jobs: int) -> tuple[dict, dict[str, str]]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", DVC_NO_ANALYTICS="1")
    shutil.rmtree(ws, ignore_errors=True)
    subprocess.run([sys.executable, "-c", MAKE_WORKSPACE, str(tree), str(ws), str(seeds)], check=True, env=env,
                   capture_output=True)
    wall, output = timed([sys.executable, "-m", "rankcert.tools.parallel", "--jobs", str(jobs)], ws, env, True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True).stdout
    row = {"tree": str(tree), "commit": commit.strip(), "wall_s": round(wall, 1), "s_per_seed": round(wall / seeds, 2),
           "stages": output.count("Running stage '")}
    return row, digests(ws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a checkout (twice or more)")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--root", type=Path, default=Path("/tmp/cpu-parallel"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows, outputs = [], []
    for index, tree in enumerate(args.tree):
        row, files = run_tree(tree.resolve(), args.root / f"ws{index}", args.seeds, args.jobs)
        rows.append(row)
        outputs.append(files)
        print(f"[cpu-parallel] {json.dumps(row)}", flush=True)
    result = {"device": f"CPU: {platform.machine()}, {len(os.sched_getaffinity(0))} cores", "seeds": args.seeds,
              "jobs": args.jobs, "runs": rows, "files_compared": len(outputs[0]),
              "identical": all(files == outputs[0] for files in outputs[1:]),
              "ratio_first_to_last": round(rows[0]["wall_s"] / rows[-1]["wall_s"], 2), "versions": package_versions()}
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"[cpu-parallel] identical: {result['identical']}, {result['ratio_first_to_last']}x", flush=True)


if __name__ == "__main__":
    main()
