"""Per-seed stages against the previous pipeline, in one sitting on one GPU machine.

    python benchmarks/per_seed_bench.py --phase canonical --before DIR --model DIR --data DIR --out PART.json \\
        --set train.lr=5e-4 --set model.target_modules=query,key,value,attention.output.dense \\
        --set model.head_modules=classifier
    python benchmarks/per_seed_bench.py --phase sweep [--before DIR] ... --out PART.json     # 15 variants, 3 seeds
    python benchmarks/per_seed_bench.py --phase seeds12 [--per-gpu K] ... --out PART.json     # 12 seeds
    python benchmarks/per_seed_bench.py --phase report --parts PART.json ... --out RESULT.json

--before is a checkout of the previous commit's project files (`git archive <commit> | tar -x -C DIR`). Each
phase builds fresh workspaces (the same params for both pipelines) and times `dvc repro` with the warm worker
stopped first, so each run pays the worker's start; `canonical` then times a forced rerun with the worker warm,
and compares the two pipelines' predictions and verdicts. `seeds12` runs `rankcert.tools.parallel --per-gpu K`
(K seeds sharing the one GPU; K=1: a plain `dvc repro`). Phases write their own JSON (a device call's time
limit), `report` merges them into the contract keys `device`, `canonical_repro_s`, `canonical_repro_warm_s`,
`canonical_repro_before_s`, `stages`, `work_s`, `dvc_s`, `sweep_s`, `sweep_before_s`, `seeds12_s`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.frontier_sweep import VARIANTS as SWEEP_VARIANTS  # noqa: E402
from benchmarks.multi_gpu_bench import seeds_for, timed, verdicts  # noqa: E402
from benchmarks.warm_bench import device_name, real_data_params, stage_times  # noqa: E402
from rankcert.runtime.layout import LAYOUT  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402


def workspace(folder: Path, args, source: Path, seeds: list[int], variants: list[str] | None = None) -> Path:
    params = real_data_params(args.model, args.data, args.set, source)
    params["seeds"] = seeds
    if variants:
        params["variants"] = variants
    return demo.create_workspace(folder, params, with_demo_assets=False, source=source)


def repro(ws: Path, *extra: str, cold_worker: bool = True) -> tuple[float, str]:
    """`dvc repro` in `ws`, the warm worker stopped first unless `cold_worker` is False: (seconds, output)."""
    seconds, output = timed(["dvc", "repro", *extra], ws, dict(os.environ, PYTHONUNBUFFERED="1"), cold_worker)
    print(f"[bench] {ws.name}: dvc repro {' '.join(extra)} {seconds:.1f} s", flush=True)
    return seconds, output


def split(seconds: float, output: str) -> dict:
    """Stages, the work in them (a wave of trainings counted once) and DVC's own time between them."""
    rows = stage_times(output)
    return {"stages": len(rows), "work_s": round(sum(r["work_s"] for r in rows), 2),
            "dvc_s": round(seconds - sum(r["wall_s"] for r in rows), 2)}


def predictions(ws: Path) -> dict[str, bytes]:
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted((ws / "data" / "eval").rglob("*.csv"))}


def canonical(args) -> dict:
    seeds = seeds_for(3)
    before = workspace(args.root / "before", args, args.before, seeds)
    after = workspace(args.root / "after", args, demo.PROJECT, seeds)
    before_s, before_out = repro(before)
    after_s, _ = repro(after)
    warm_s, warm_out = repro(after, "-f", cold_worker=False)
    noop_s, _ = repro(after, cold_worker=False)
    now, then = split(warm_s, warm_out), split(before_s, before_out)
    return {"canonical_repro_before_s": round(before_s, 2), "canonical_repro_s": round(after_s, 2),
            "canonical_repro_warm_s": round(warm_s, 2), "noop_repro_s": round(noop_s, 2),
            "stages": now["stages"], "stages_before": then["stages"], "work_s": now["work_s"], "dvc_s": now["dvc_s"],
            "work_s_before": then["work_s"], "dvc_s_before": then["dvc_s"],
            "identical_predictions_before_after": predictions(before) == predictions(after),
            "identical_verdicts_before_after": verdicts(before) == verdicts(after),
            "stage_times_warm": stage_times(warm_out),
            "verdicts": verdicts(after), "verdicts_before": verdicts(before)}


def sweep(args) -> dict:
    after_s, _ = repro(workspace(args.root / "sweep", args, demo.PROJECT, seeds_for(3), SWEEP_VARIANTS))
    result = {"sweep_s": round(after_s, 2), "sweep_verdicts": verdicts(args.root / "sweep")}
    if args.before:
        before_ws = workspace(args.root / "sweep-before", args, args.before, seeds_for(3), SWEEP_VARIANTS)
        result["sweep_before_s"] = round(repro(before_ws)[0], 2)
        result["sweep_identical_verdicts_before_after"] = verdicts(before_ws) == result["sweep_verdicts"]
    return result


def seeds12(args) -> dict:
    ws = workspace(args.root / "seeds12", args, demo.PROJECT, seeds_for(12))
    if args.per_gpu > 1:
        command = [sys.executable, "-m", "rankcert.tools.parallel", "--per-gpu", str(args.per_gpu)]
        seconds, output = timed(command, ws, dict(os.environ, PYTHONUNBUFFERED="1"), True)
        print(f"[bench] {ws.name}: {' '.join(command[1:])} {seconds:.1f} s", flush=True)
    else:
        seconds, output = repro(ws)
    if args.keep_predictions:
        keep_predictions(ws, args.keep_predictions)
    return {"seeds12_s": round(seconds, 2), "seeds12_per_gpu": args.per_gpu,
            "seeds12_stages": output.count("Running stage '"), "seeds12_verdicts": verdicts(ws)}


def keep_predictions(ws: Path, archive: Path) -> None:
    """The run's params, predictions CSVs and certificate packed into one .tgz (a device call returns few,
    shallow files), as benchmarks/evidence_check.py reads it."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in [ws / "params.yaml", *sorted((ws / "data" / "eval").rglob("*.csv")), ws / LAYOUT.certificate,
                     ws / LAYOUT.certificate_details]:
            if path.exists():  # no certificate when a stage failed: the predictions made are kept all the same
                tar.add(path, arcname=path.relative_to(ws).as_posix())


def report(args) -> None:
    merged = {}
    for part in args.parts:
        merged.update(json.loads(part.read_text()))
    merged.setdefault("sweep_before_s", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    rows = [("canonical (worker started by the run)", "canonical_repro_before_s", "canonical_repro_s"),
            ("canonical, worker warm", None, "canonical_repro_warm_s"), ("15-variant sweep", "sweep_before_s", "sweep_s"),
            ("12 seeds", None, "seeds12_s")]
    print(f"device {merged.get('device')}")
    for label, before, after in rows:
        old, new = merged.get(before) if before else None, merged.get(after)
        ratio = f"{old / new:5.2f}x" if old and new else "   - "
        print(f"  {label:40s} before {old if old else '-':>8} s   now {new if new else '-':>8} s   {ratio}")
    print(f"  written {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["canonical", "sweep", "seeds12", "report"], required=True)
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--set", action="append", default=[], help="params override key=value (lists: a,b)")
    parser.add_argument("--before", type=Path, help="the previous commit's project files")
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-per-seed-bench"))
    parser.add_argument("--per-gpu", type=int, default=1, help="with --phase seeds12: seeds sharing the GPU")
    parser.add_argument("--keep-predictions", type=Path, help="with --phase seeds12: pack predictions into this .tgz")
    parser.add_argument("--parts", type=Path, nargs="*", default=[], help="with --phase report: the phases' JSON")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.phase == "report":
        return report(args)
    if args.phase == "canonical" and not args.before:
        parser.error("--phase canonical needs --before")
    started = time.perf_counter()
    result = {"canonical": canonical, "sweep": sweep, "seeds12": seeds12}[args.phase](args)
    result |= {"device": device_name(), "packages": package_versions(),
               f"{args.phase}_phase_wall_s": round(time.perf_counter() - started, 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}), flush=True)


if __name__ == "__main__":
    main()
