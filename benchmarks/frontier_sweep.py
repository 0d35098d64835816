"""The compression frontier on real data: many variants, retrained and truncated, certified together.

    python benchmarks/frontier_sweep.py --model DIR --data DIR --out-dir DIR [--jobs N] \\
        --set train.lr=5e-4 --set model.target_modules=query,key,value,attention.output.dense \\
        --set model.head_modules=classifier

Builds a fresh workspace with the canonical params on the local model and data, the sweep's variants
(uniform r2..r24, per_layer at energy 0.90/0.95/0.99, truncated per_layer plans and uniform r8/r16) and
seeds, runs `python -m rankcert.tools.parallel` (one `dvc repro` per seed over the GPUs, then certify), exports
the policy the run supports, and copies the report, its pictures, certify.json, the plot data and the
policy to --out-dir, with a JSON of the frontier and the wall time.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.warm_bench import device_name, real_data_arguments, real_data_params  # noqa: E402
from rankcert.certification import certificate  # noqa: E402
from rankcert.runtime.layout import LAYOUT  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402

VARIANTS = ["uniform_r2", "uniform_r4", "uniform_r8", "uniform_r12", "uniform_r16", "uniform_r20", "uniform_r24",
            "per_layer", "per_layer_e95", "per_layer_e99",
            "truncated_per_layer", "truncated_per_layer_e95", "truncated_per_layer_e99", "truncated_uniform_r8",
            "truncated_uniform_r16"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    real_data_arguments(parser)
    parser.add_argument("--seeds", default="42,123,456")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-frontier"))
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--policy-name", default="minilm_sst2")
    args = parser.parse_args()
    params = real_data_params(args.model, args.data, args.set)
    params["seeds"] = [int(s) for s in args.seeds.split(",")]
    params["variants"] = VARIANTS
    ws = args.root if args.root.exists() else demo.create_workspace(args.root, params, with_demo_assets=False)
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "rankcert.tools.parallel", "--jobs", str(args.jobs)], cwd=ws)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"the sweep failed (exit {run.returncode})")
    policy = ws / "policies" / f"{args.policy_name}.yaml"
    subprocess.run([sys.executable, "-m", "rankcert.tools.policy_export", "--out", str(policy), "--write"], cwd=ws,
                   check=True)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    for name in ("metrics/report.md", "metrics/certify.json", "metrics/variants", "metrics/certify_details.json",
                 "metrics/figures", "plots/data"):
        source = ws / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, out / Path(name).name)
    shutil.copy2(policy, out / policy.name)
    found = certificate.read(ws / LAYOUT.certificate, ws / LAYOUT.certificate_details)
    summary = {"device": device_name(), "gpus_used": args.jobs, "seeds": params["seeds"], "variants": VARIANTS,
               "wall_s": round(wall, 2), "frontier": dataclasses.asdict(found.details.frontier),
               "level": found.metrics.level,
               "table": {n: {**dataclasses.asdict(v), "pass_rate": found.details.variants[n].pass_rate,
                             "std_delta": found.details.variants[n].std_delta,
                             "mean_trainable_parameters": found.details.variants[n].mean_trainable_parameters}
                         for n, v in found.metrics.variants.items()},
               "packages": package_versions()}
    (out / "frontier.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: summary[k] for k in ("device", "wall_s", "frontier", "level")}, indent=1))


if __name__ == "__main__":
    main()
