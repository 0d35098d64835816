"""Time the certify stage on the canonical shape: 3 seeds x (probe + 4 variants) x 500 eval examples.

    python benchmarks/certify_bench.py [--repeats 5] [--before DIR]

Fixture predictions are generated (no training); the certify stage's own main() runs end to end in a
fresh process each time, imports included, and the median wall time is printed. --before DIR (a checkout of an
earlier commit, `git archive <commit> | tar -x -C DIR`) times that code too, runs alternating, side by side.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from safetensors.numpy import save_file

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from rankcert.config import records  # noqa: E402
from rankcert.config.params import load_params, parse_variant  # noqa: E402
from rankcert.config.records import Evaluation  # noqa: E402
from rankcert.inputs.sources import adapter_digest, file_sha256  # noqa: E402
from rankcert.runtime.layout import PROBE, Layout  # noqa: E402
from rankcert.training import identity  # noqa: E402
from tests.helpers import stand_in_training, write_stand_in_manifest, write_stand_in_run  # noqa: E402


def fixture(root: Path, seeds=(42, 123, 456), n=500, project: Path = PROJECT) -> None:
    """Predictions, metrics and stand-in adapters of the canonical shape, with `project`'s own params.yaml."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["certify"]["policy"] = str(PROJECT / "policies" / "safe_uniform.yaml")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(PROJECT / "plots" / "templates", root / "plots" / "templates")
    loaded = load_params(root / "params.yaml")
    base = identity.base_model(loaded.model)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)  # one eval set for every seed, as prepare makes it
    for seed in seeds:
        prepared = root / "data" / "prepared" / str(seed)
        prepared.mkdir(parents=True)
        save_file({"labels": labels.astype(np.int64)}, str(prepared / "eval.safetensors"))
        write_stand_in_manifest(prepared, loaded, seed, n)
        probe = np.where(rng.random(n) < 0.82, labels, 1 - labels)
        for name in ["probe", *params["variants"]]:
            pred = probe if name == "probe" else np.where(rng.random(n) < 0.92, probe, 1 - probe)
            path = root / "data" / "eval" / str(seed) / f"{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("index,label,prediction\n" + "".join(f"{i},{y},{p}\n" for i, (y, p) in
                                                                 enumerate(zip(labels, pred))))
            correct = int((pred == labels).sum())
            metrics = root / "metrics" / "eval" / str(seed) / f"{name}.json"
            metrics.parent.mkdir(parents=True, exist_ok=True)
            metrics.write_text(records.text(Evaluation(stand_in_adapter(root, seed, name, rng, base, loaded),
                                                       file_sha256(path), correct / n, correct, n, 600_000, 0.0)))


def stand_in_adapter(root: Path, seed: int, name: str, rng, base: str, params) -> str:
    """Random bytes the size of a canonical adapter (DistilBERT, r=32 on q/v: about 2.4 MB), a config with the
    ranks its name says and its run record: certify hashes the files and checks the record."""
    folder = root / Layout().adapter(seed, name)
    folder.mkdir(parents=True)
    rank = 32 if name == PROBE else _named_rank(name) or 16
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "target_modules": ["q_lin", "v_lin"]}))
    (folder / "adapter_model.safetensors").write_bytes(rng.bytes(2_400_000))
    write_stand_in_run(folder.parent, name, seed, base, stand_in_training(params, seed))
    return adapter_digest(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="an earlier commit's project files, timed beside this code")
    args = parser.parse_args()
    codes = {"now": PROJECT, **({"before": args.before.resolve()} if args.before else {})}
    roots = {label: Path(tempfile.mkdtemp()) for label in codes}
    for label, code in codes.items():
        fixture(roots[label], project=code)
    times = {label: [] for label in codes}
    for _ in range(args.repeats):
        for label, code in codes.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "stages.certify"], cwd=roots[label], check=True, capture_output=True,
                           env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"})
            times[label].append(time.perf_counter() - start)
    print("certify, 3 seeds x 5 adapters x 500 examples, 10,000 bootstrap resamples (process start and imports "
          f"included, {args.repeats} runs each):")
    for label, seconds in times.items():
        print(f"  {label:6s} median {statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f})")
    if "before" in times:
        print(f"  now / before: {statistics.median(times['now']) / statistics.median(times['before']):.2f}x")


if __name__ == "__main__":
    main()


def _named_rank(name: str) -> int | None:
    """The rank a uniform variant's name says (also through truncated_), else None."""
    variant = parse_variant(name)
    return (variant.truncates or variant).uniform_rank
