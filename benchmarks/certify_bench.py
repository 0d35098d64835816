"""Time the certify stage on the canonical shape: 3 seeds x (probe + 4 variants) x 500 eval examples.

    python benchmarks/certify_bench.py [--repeats 5]

Fixture predictions are generated (no training); the certify stage's own main() runs end to end in a
fresh process each time, imports included, and the median wall time is printed.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

PROJECT = Path(__file__).resolve().parent.parent


def fixture(root: Path, seeds=(42, 123, 456), n=500) -> None:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["certify"]["policy"] = str(PROJECT / "policies" / "safe_uniform.yaml")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(0)
    for seed in seeds:
        labels = rng.integers(0, 2, n)
        probe = np.where(rng.random(n) < 0.82, labels, 1 - labels)
        for name in ["probe", *params["variants"]]:
            pred = probe if name == "probe" else np.where(rng.random(n) < 0.92, probe, 1 - probe)
            path = root / "data" / "eval" / str(seed) / f"{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("index,label,prediction\n" + "".join(f"{i},{y},{p}\n" for i, (y, p) in
                                                                 enumerate(zip(labels, pred))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    fixture(root)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stages.certify"], cwd=root, check=True, capture_output=True,
                       env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - start)
    print(f"certify, 3 seeds x 5 adapters x 500 examples, 10,000 bootstrap resamples: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}, {args.repeats} runs, process start and imports included)")


if __name__ == "__main__":
    main()
