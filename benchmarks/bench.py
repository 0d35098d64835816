"""Side-by-side speed benchmark: this project's training loop vs a plain Trainer+PEFT script, and dvc repro timings.

    python benchmarks/bench.py --data ../shared/data/sst2 --vocab VOCAB.txt --out benchmarks/results/X.json

A random-weight DistilBERT-shaped model (DistilBertConfig() defaults) with the real uncased WordPiece vocabulary
is built locally: it times the same as the pretrained one. Everything runs in one process on one device, so the
ratios compare like with like. Prints a table and writes the numbers to --out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rankcert.certification import certificate  # noqa: E402
from rankcert.config.params import RuntimeParams, load_params  # noqa: E402
from rankcert.inputs import data  # noqa: E402
from rankcert.runtime.device import lease_device  # noqa: E402
from rankcert.runtime.layout import LAYOUT  # noqa: E402
from rankcert.runtime.runfacts import device_name, package_versions  # noqa: E402
from rankcert.tools import demo
from rankcert.training import base as base_module  # noqa: E402
from rankcert.training import cotrain, loop  # noqa: E402


def build_model(folder: Path, vocab: Path) -> Path:
    from transformers import BertTokenizerFast, DistilBertConfig, DistilBertModel

    words = vocab.read_text(encoding="utf-8").splitlines()
    BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True).save_pretrained(str(folder))
    torch.manual_seed(0)
    DistilBertModel(DistilBertConfig(vocab_size=len(words))).save_pretrained(str(folder), safe_serialization=True)
    return folder


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def probe_job(base: base_module.SharedBase, params) -> base_module.Job:
    """The probe's adapter, as stage probe plans it."""
    return base_module.Job("probe", dict.fromkeys(base.modules, params.probe.rank),
                       dict.fromkeys(base.modules, params.probe.alpha))


def time_ours(params, train_set, device, steps: int, graphs: bool) -> dict:
    """The probe trained as stage probe trains it (cotrain.fit_all): graphed on CUDA, or the eager loop."""
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, steps=steps),
                                 runtime=dataclasses.replace(params.runtime, cuda_graphs=graphs))
    base = base_module.SharedBase(params, 42)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    list(cotrain.fit_all(base, [probe_job(base, params)], train_set, device, "ours"))
    sync(device)
    wall = time.perf_counter() - start
    return {"ms_per_step": 1000 * wall / steps, "wall_s": wall, **_peak(device)}


def trainer_run(params, train_frame, device, steps: int, seed: int = 42,
                plan: dict[str, int] | None = None) -> tuple[torch.nn.Module, dict]:
    """A plain Hugging Face Trainer + PEFT script with the same recipe (dynamic padding collator).

    `plan` (module -> rank, alpha = rank) trains a compressed variant; default is the probe.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(params.model.name)
    encoded = tokenizer(list(train_frame["sentence"]), truncation=True, max_length=params.model.max_length)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": int(label)} for ids, mask, label in
            zip(encoded["input_ids"], encoded["attention_mask"], train_frame["label"])]
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(params.model.name, num_labels=2)
    rank = max(plan.values()) if plan else params.probe.rank
    config = LoraConfig(r=rank, lora_alpha=rank if plan else params.probe.alpha, lora_dropout=params.probe.dropout,
                        task_type="SEQ_CLS", target_modules=list(params.model.target_modules),
                        modules_to_save=list(params.model.head_modules),
                        rank_pattern=dict(plan or {}), alpha_pattern={m: float(r) for m, r in (plan or {}).items()})
    model = get_peft_model(model, config)
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), max_steps=steps, per_device_train_batch_size=params.train.batch_size,
        learning_rate=params.train.lr, weight_decay=params.train.weight_decay,
        warmup_steps=math.ceil(params.train.warmup_ratio * steps), lr_scheduler_type="linear",
        max_grad_norm=params.train.max_grad_norm, logging_steps=params.train.log_every, save_strategy="no",
        report_to=[], seed=seed, use_cpu=device.type == "cpu", dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer),
                      callbacks=[Stamp()])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    steady = [b - a for a, b in zip(stamps[10:], stamps[11:])]
    return model, {"ms_per_step": 1000 * wall / steps, "steady_ms_per_step": 1000 * statistics.median(steady),
                   "wall_s": wall, **_peak(device)}


def time_trainer(params, train_frame, device, steps: int) -> dict:
    return trainer_run(params, train_frame, device, steps)[1]


def profile_step(params, train_set, device, steps: int = 5) -> dict:
    """Kernels launched and GPU time spent per training step (eager step under torch.profiler).

    A CUDA-graph replay runs the same kernels back to back, so their summed GPU time bounds the replay.
    """
    from torch.profiler import ProfilerActivity, profile

    recipe = dataclasses.replace(params.train, steps=steps + 3)
    base = base_module.SharedBase(params, 42)
    model = base.lora_model(probe_job(base, params)).to(device).train()
    order = loop.batch_order(len(train_set), recipe.steps, recipe.batch_size, 42)
    step = loop.EagerStep(model, train_set, order, recipe, device)
    for i in range(3):
        step(i, recipe.lr)
    sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for i in range(3, 3 + steps):
            step(i, recipe.lr)
        sync(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    gpu_us = sum(e.device_time for e in kernels)
    return {"kernels_per_step": len(kernels) / steps, "gpu_ms_per_step": gpu_us / 1000 / steps,
            "mean_kernel_us": gpu_us / max(1, len(kernels))}


def _peak(device: torch.device) -> dict:
    out = {"peak_host_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def time_repro(model_dir: Path, data_dir: Path, steps: int, seeds: list[int], device: str) -> dict:
    """Wall time of a full canonical `dvc repro`, a no-op one, and a certify-only re-run."""
    params = yaml.safe_load((demo.PROJECT / "params.yaml").read_text())
    params["model"]["name"], params["data"]["source"] = str(model_dir.resolve()), str(data_dir.resolve())
    params["inputs"] = {"model": params["model"]["name"], "data": params["data"]["source"]}  # tracked by DVC
    params["train"]["steps"], params["runtime"]["device"], params["seeds"] = steps, device, seeds
    ws = demo.create_workspace(Path(tempfile.mkdtemp()) / "ws", params, with_demo_assets=False)
    out = {}
    for name, command in (("full_repro_s", ["dvc", "repro"]), ("noop_repro_s", ["dvc", "repro"]),
                          ("certify_only_s", ["dvc", "repro", "-f", "-s", "certify"])):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ws, capture_output=True, text=True)
        out[name] = time.perf_counter() - start
        if name == "full_repro_s":
            out["stage_seconds"] = [line for line in result.stdout.splitlines() if "finished in" in line]
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    out["children_peak_host_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out["certify"] = {name: dataclasses.asdict(v) for name, v in certificate.read_metrics(ws / LAYOUT.certificate)
                      .variants.items()}
    out["stage_ms_per_step"] = {p.stem: json.loads(p.read_text())["ms_per_step"]
                                for p in sorted((ws / ".rankcert-tmp" / "timings").glob("probe@*.json"))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="SST-2 folder (train/validation files)")
    parser.add_argument("--vocab", type=Path, required=True, help="uncased WordPiece vocab.txt")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed training")
    parser.add_argument("--repro-steps", type=int, default=500)
    parser.add_argument("--seeds", default="42,123,456")
    parser.add_argument("--skip-repro", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    device = lease_device(RuntimeParams(args.device, cuda_graphs=True), "bench")
    work = Path(tempfile.mkdtemp())
    model_dir = build_model(work / "model", args.vocab)
    params = load_params(demo.PROJECT / "params.yaml")
    params = dataclasses.replace(params, model=dataclasses.replace(params.model, name=str(model_dir)))
    frame = data.draw_train(data.load_split(str(args.data), "", "train"), params.data.train_size, 42)
    train_set = data.encode(frame, data.load_tokenizer(str(model_dir)), params.model.max_length)

    results = {"device": device_name(device), "python": platform.python_version(), "packages": package_versions(),
               "steps": args.steps, "model": "DistilBERT-shaped, random weights, r=32, batch 8, fp32"}
    results["trainer"] = time_trainer(params, frame, device, args.steps)
    results["ours_eager"] = time_ours(params, train_set, device, args.steps, graphs=False)
    if device.type == "cuda":
        results["ours_graphed"] = time_ours(params, train_set, device, args.steps, graphs=True)
        results["step_profile"] = profile_step(params, train_set, device)
    best = results.get("ours_graphed", results["ours_eager"])
    results["ratio_trainer_over_ours"] = results["trainer"]["ms_per_step"] / best["ms_per_step"]
    results["ratio_trainer_over_ours_eager"] = results["trainer"]["ms_per_step"] / results["ours_eager"]["ms_per_step"]
    if not args.skip_repro:
        seeds = [int(s) for s in args.seeds.split(",")]
        results["repro"] = time_repro(model_dir, args.data, args.repro_steps, seeds, args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)


def print_table(r: dict) -> None:
    print(f"\ndevice: {r['device']}; {r['steps']} steps; {r['model']}")
    print(f"{'loop':<22}{'ms/step':>10}{'vs Trainer':>12}{'peak GPU MiB':>14}")
    for key in ("trainer", "ours_eager", "ours_graphed"):
        if key in r:
            row = r[key]
            print(f"{key:<22}{row['ms_per_step']:>10.2f}{r['trainer']['ms_per_step'] / row['ms_per_step']:>11.2f}x"
                  f"{row.get('peak_gpu_mib', float('nan')):>14.0f}")
    print(f"Trainer steady-state (median step after 10): {r['trainer']['steady_ms_per_step']:.2f} ms")
    if "step_profile" in r:
        p = r["step_profile"]
        print(f"one step: {p['kernels_per_step']:.0f} kernels, {p['gpu_ms_per_step']:.2f} ms of GPU time "
              f"({p['mean_kernel_us']:.1f} us each)")
    if "repro" in r:
        rp = r["repro"]
        print(f"dvc repro full: {rp['full_repro_s']:.1f} s; no-op: {rp['noop_repro_s']:.2f} s; "
              f"certify only: {rp['certify_only_s']:.2f} s")


if __name__ == "__main__":
    main()
