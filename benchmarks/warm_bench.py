"""Cold vs warm stage execution, in one sitting on one machine: the whole `dvc repro`, and each stage's overhead.

    python benchmarks/warm_bench.py --model DIR --data DIR --out RESULT.json \\
        --set train.lr=5e-4 --set model.target_modules=query,key,value,attention.output.dense \\
        --set model.head_modules=classifier                  # the canonical real-data run (MiniLM stand-in)
    python benchmarks/warm_bench.py --demo --out RESULT.json  # the offline demo profile

Where one command may not outlast the cold run (a device call's time limit), run it in phases on the same
machine, one after the other: `--phase warm`, then `--phase cold --targets ...` as often as needed (each
adds its wall time; the last one runs `dvc repro` whole, certify included), then `--phase report`.

Builds two identical fresh workspaces; runs `dvc repro` in one with RANKCERT_WORKER=off (every stage a cold
Python process) and in the other through the warm worker (started by the first stage: its import time is
counted), then a no-op `dvc repro`. A stage's overhead is its wall time (from the client's start to its
last line) minus its own training or evaluation time. Prints the ratios; writes JSON whose top-level keys
`device`, `canonical_repro_s`, `canonical_repro_cold_s` and `stage_overhead_s_median` are a contract.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.realdata import apply  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402

STAGE = re.compile(r"^Running stage '(?:[^']*:)?([^':]+)':", re.M)  # probe@42 from seeds/probe/dvc.yaml:probe@42
WALL = re.compile(r"finished in ([\d.]+) s")
WORK = re.compile(r"steps in ([\d.]+) s \(.*?(?:, (\d+) trained at once)?\)|evaluated in ([\d.]+) s")


def real_data_params(model: str, data: str, assignments: list[str], project: Path = demo.PROJECT) -> dict:
    """The canonical params (of `project`: another checkout's own params.yaml) on a local model and data folder
    (tracked as inputs), with key=value overrides."""
    params = yaml.safe_load((Path(project) / "params.yaml").read_text())
    params["model"]["name"], params["data"]["source"] = str(Path(model).resolve()), str(Path(data).resolve())
    params["inputs"] = {"model": params["model"]["name"], "data": params["data"]["source"]}  # tracked by DVC
    for assignment in assignments:
        apply(params, assignment)
    return params


def real_data_arguments(parser) -> None:
    """--model, --data (local folders) and --set key=value params overrides, each benchmark's real-data options."""
    parser.add_argument("--model", required=True, help="a local model folder (the MiniLM stand-in: SPEC.md)")
    parser.add_argument("--data", required=True, help="a local dataset folder (../shared/data/sst2)")
    parser.add_argument("--set", action="append", default=[], help="params override key=value (lists: a,b)")


def workspace(folder: Path, args) -> Path:
    if args.demo:
        return demo.create_workspace(folder)
    params = real_data_params(args.model, args.data, args.set)
    if args.seeds:
        params["seeds"] = [int(s) for s in args.seeds.split(",")]
    return demo.create_workspace(folder, params, with_demo_assets=False)


def repro(ws: Path, worker: bool, *extra: str) -> tuple[float, str]:
    env = dict(os.environ, RANKCERT_WORKER="on" if worker else "off", PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    result = subprocess.run(["dvc", "repro", *extra], cwd=ws, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dvc repro failed in {ws}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def stage_times(output: str) -> list[dict]:
    """Per stage: wall (client start to end), work (training or evaluation), overhead = wall − work."""
    names = STAGE.findall(output)
    blocks = STAGE.split(output)[2::2]
    rows = []
    for name, block in zip(names, blocks):
        wall = WALL.search(block)
        work = work_seconds(block)
        if wall:
            rows.append({"stage": name, "wall_s": float(wall.group(1)), "work_s": round(work, 3),
                         "overhead_s": round(float(wall.group(1)) - work, 3)})
    return rows


def work_seconds(block: str) -> float:
    """A stage's trainings and evaluations; trainings that ran at once print their shared wall time each, so a
    wave counts once."""
    waves, work = set(), 0.0
    for trained, together, evaluated in WORK.findall(block):
        if together:
            waves.add((trained, together))
        else:
            work += float(trained or evaluated)
    return work + sum(float(seconds) for seconds, _ in waves)


def outputs(ws: Path) -> dict[str, bytes]:
    files = sorted((ws / "metrics" / "eval").rglob("*.json")) + sorted((ws / "data" / "eval").rglob("*.csv"))
    return {str(p.relative_to(ws)): p.read_bytes() for p in files}


def device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)  # this benchmark process only; the stages run elsewhere
    except ImportError:
        pass
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"


def summarize(label: str, seconds: float, stages: list[dict]) -> dict:
    overheads = [s["overhead_s"] for s in stages]
    by_kind: dict[str, list[float]] = {}
    for s in stages:
        by_kind.setdefault(s["stage"].split("@")[0], []).append(s["overhead_s"])
    return {f"{label}_repro_s": round(seconds, 2), f"{label}_stage_overhead_s_median": statistics.median(overheads),
            f"{label}_stage_overhead_s_median_by_kind": {k: statistics.median(v) for k, v in by_kind.items()},
            f"{label}_dvc_own_s": round(seconds - sum(s["wall_s"] for s in stages), 2),
            f"{label}_stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--set", action="append", default=[], help="params override key=value (lists: a,b)")
    parser.add_argument("--seeds", help="comma-separated seeds instead of params.yaml's")
    parser.add_argument("--demo", action="store_true", help="the offline demo profile instead of --model/--data")
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-warm-bench"), help="must be new or empty")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--phase", choices=["all", "warm", "cold", "report"], default="all")
    parser.add_argument("--targets", nargs="*", default=[], help="with --phase cold: dvc repro targets")
    args = parser.parse_args()
    if args.phase != "report" and not args.demo and not (args.model and args.data):
        parser.error("give --model and --data, or --demo")
    cold_ws, warm_ws = args.root / "cold", args.root / "warm"
    state = args.root / "phases.json"
    if args.phase in ("all", "warm"):
        subprocess.run([sys.executable, "-m", "rankcert.worker", "stop"], capture_output=True)
        time.sleep(0.5)
        workspace(warm_ws, args)
        warm_s, warm_out = repro(warm_ws, worker=True)
        noop_s, _ = repro(warm_ws, worker=True)
        save_phase(state, "warm", {"seconds": warm_s, "output": warm_out, "noop_s": noop_s})
    if args.phase in ("all", "cold"):
        if not cold_ws.exists():
            workspace(cold_ws, args)
        seconds, output = repro(cold_ws, False, *args.targets)
        save_phase(state, "cold", {"seconds": seconds, "output": output}, append=True)
    if args.phase in ("all", "report"):
        report(args, state, cold_ws, warm_ws)


def save_phase(state: Path, name: str, result: dict, append: bool = False) -> None:
    phases = json.loads(state.read_text()) if state.is_file() else {}
    phases[name] = phases.get(name, []) + [result] if append else [result]
    state.write_text(json.dumps(phases))


def report(args, state: Path, cold_ws: Path, warm_ws: Path) -> None:
    phases = json.loads(state.read_text())
    warm_s, warm_out = phases["warm"][0]["seconds"], phases["warm"][0]["output"]
    noop_s = phases["warm"][0]["noop_s"]
    cold_s = sum(p["seconds"] for p in phases["cold"])
    cold_out = "\n".join(p["output"] for p in phases["cold"])
    cold, warm = stage_times(cold_out), stage_times(warm_out)
    same = outputs(cold_ws) == outputs(warm_ws)
    accuracies = {k: json.loads(v)["accuracy"] for k, v in outputs(warm_ws).items() if k.endswith(".json")}
    result = {
        "device": device_name(),
        "canonical_repro_s": round(warm_s, 2),
        "canonical_repro_cold_s": round(cold_s, 2),
        "stage_overhead_s_median": statistics.median(s["overhead_s"] for s in warm),
        "noop_repro_s": round(noop_s, 2),
        "speedup": round(cold_s / warm_s, 2),
        "stages": len(warm),
        "identical_predictions_and_metrics": same,
        "profile": "demo" if args.demo else {"model": args.model, "data": args.data, "set": args.set},
        "cold_repro_parts": len(phases["cold"]),
        "accuracies": accuracies,
        "python": platform.python_version(),
        "packages": package_versions(),
        **summarize("warm", warm_s, warm),
        **summarize("cold", cold_s, cold),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"device {result['device']}: {len(warm)} stages")
    print(f"  dvc repro       cold {cold_s:8.1f} s   warm {warm_s:8.1f} s   ratio {cold_s / warm_s:5.2f}x")
    print(f"  stage overhead  cold {result['cold_stage_overhead_s_median']:8.2f} s   "
          f"warm {result['stage_overhead_s_median']:8.2f} s   (medians)")
    print(f"  no-op repro     {noop_s:.2f} s;  same predictions and metrics: {same}")
    print(f"  written {args.out}")


if __name__ == "__main__":
    main()
