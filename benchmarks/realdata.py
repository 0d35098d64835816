"""Real-data certification run (SST-2 + a local pretrained encoder), timed, beside a plain-Trainer baseline.

    python benchmarks/realdata.py --model MINILM_DIR --data ../shared/data/sst2 --out OUT_DIR \\
        --set train.lr=5e-4 --set model.target_modules=query,key,value,attention.output.dense \\
        --set model.head_modules=classifier [--seeds 42,123,456] [--trainer-seed 42] [--per-gpu K] \\
        [--save-probe DIR]     # then --set probe.adapter=DIR --set inputs.adapter=DIR certifies cuts of it

Builds a fresh git+DVC workspace with the canonical params plus the overrides, runs `dvc repro certify`, copies the
report and metrics to OUT_DIR, and (with --trainer-seed) retrains the probe and every variant at that seed
with a Hugging Face Trainer script to compare accuracies on the same eval examples.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rankcert.certification.stats import passes  # noqa: E402
from rankcert.config.params import RuntimeParams, params_from_dict  # noqa: E402
from rankcert.evaluation.prediction import predict  # noqa: E402
from rankcert.inputs import data  # noqa: E402
from rankcert.runtime.device import lease_device  # noqa: E402
from rankcert.runtime.layout import Layout  # noqa: E402
from rankcert.tools import demo


def apply(params: dict, assignment: str) -> None:
    key, value = assignment.split("=", 1)
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    old = node.get(last)
    if isinstance(old, list):
        kind = type(old[0]) if old else str  # looks=3,6,12 stays a list of integers
        node[last] = [kind(item) for item in value.split(",")]
    else:  # a key params.yaml leaves null or out (probe.adapter, inputs.adapter) takes the text as it is
        node[last] = value if old is None else type(old)(value)


def trainer_baseline(workspace: Path, params, seed: int, device) -> dict:
    """Probe and every variant at `seed` with the Trainer script; accuracy on the same eval tensors."""
    from bench import trainer_run

    frame = data.draw_train(data.load_split(params.data.source, params.data.config, params.data.train_split),
                            params.data.train_size, seed)
    eval_set = data.load_encoded(Layout(workspace).prepared(seed) / "eval.safetensors")
    labels = eval_set.labels.tolist()
    out = {}
    for name in ["probe", *params.variant_names]:
        plan = None if name == "probe" else json.loads(
            (Layout(workspace).run(seed, name) / "plan.json").read_text())["ranks"]
        model, timing = trainer_run(params, frame, device, params.train.steps, seed=seed, plan=plan)
        pred = predict(model, eval_set, params.evaluate.batch_size, device)
        out[name] = {"accuracy": sum(int(p == y) for p, y in zip(pred, labels)) / len(labels), **timing}
    for name in params.variant_names:
        out[name]["delta"] = out[name]["accuracy"] - out["probe"]["accuracy"]
        out[name]["pass"] = passes(out[name]["delta"], params.certify.tolerance)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="42,123,456")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], help="key=value override of params.yaml")
    parser.add_argument("--trainer-seed", type=int)
    parser.add_argument("--per-gpu", type=int, help="seeds sharing a GPU at once (rankcert.tools.parallel)")
    parser.add_argument("--save-probe", type=Path, help="copy the first seed's probe adapter (a PEFT folder) here")
    args = parser.parse_args()

    raw = yaml.safe_load((demo.PROJECT / "params.yaml").read_text())
    raw["model"]["name"], raw["data"]["source"] = str(args.model.resolve()), str(args.data.resolve())
    raw["inputs"] = {"model": raw["model"]["name"], "data": raw["data"]["source"]}  # tracked by DVC
    raw["seeds"], raw["runtime"]["device"] = [int(s) for s in args.seeds.split(",")], args.device
    for assignment in args.set:
        apply(raw, assignment)
    params = params_from_dict(raw)
    workspace = demo.create_workspace(Path(tempfile.mkdtemp()) / "ws", raw, with_demo_assets=False)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(args.out / "repro.log", "w") as log:
        # certify and what it needs: the plots page (vl-convert) is not this benchmark's
        command = ["dvc", "repro", "certify"] if args.per_gpu is None else [
            sys.executable, "-m", "rankcert.tools.parallel", "--per-gpu", str(args.per_gpu)]
        result = subprocess.run(command, cwd=workspace, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"dvc repro failed; see {args.out / 'repro.log'}")
    shutil.copy(workspace / "metrics" / "report.md", args.out / "report.md")
    if args.save_probe:
        shutil.copytree(Layout(workspace).adapter(params.seeds[0], "probe"), args.save_probe)
    for name in ("certify.json", "certify_details.json"):
        shutil.copy(workspace / "metrics" / name, args.out / name)
    shutil.copytree(workspace / "metrics" / "variants", args.out / "variants", dirs_exist_ok=True)
    summary = {"repro_wall_s": wall, "params": raw,
               "eval": {f"{p.parent.name}/{p.stem}": json.loads(p.read_text())
                        for p in sorted((workspace / "metrics" / "eval").glob("*/*.json"))},
               "plans": {f"{p.parent.parent.name}/{p.parent.name}": json.loads(p.read_text())["ranks"]
                         for p in sorted((workspace / "data" / "variants").glob("*/per_layer/plan.json"))},
               "train_ms_per_step": {p.stem: json.loads(p.read_text())["ms_per_step"]
                                     for p in sorted((workspace / ".rankcert-tmp" / "timings").glob("*.json"))}}
    if args.trainer_seed is not None:
        summary["trainer_baseline"] = trainer_baseline(workspace, params, args.trainer_seed,
                                                       lease_device(RuntimeParams(args.device, cuda_graphs=True),
                                                                    "trainer baseline"))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print((args.out / "report.md").read_text())
    print(f"dvc repro wall: {wall:.1f} s")


if __name__ == "__main__":
    main()
