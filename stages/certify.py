"""Stage certify: every seed and variant against the spec's rule and the stored policy; metrics, report, plots."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Sequence

from stages import plotdata, report, runfacts
from stages.errors import run_main
from stages.outputs import read_json, write_csv, write_json, write_text
from stages.params import load_params
from stages.policy import load_policy
from stages.verdict import decide, metrics, read_predictions


def _optional_json(path: Path) -> dict | None:
    return read_json(path) if path.is_file() else None


def _read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data"), help="root of the stages' DVC outputs")
    parser.add_argument("--eval-metrics", type=Path, default=Path("metrics/eval"))
    parser.add_argument("--out", type=Path, default=Path("metrics/certify.json"))
    parser.add_argument("--report", type=Path, default=Path("metrics/report.md"))
    parser.add_argument("--plots", type=Path, default=Path("plots/data"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--strict", action="store_true", help="exit 1 unless certified (for CI gates)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    policy = load_policy(params.certify.policy, params.variants)
    names = ["probe", *params.variants]
    keys = [(seed, name) for seed in params.seeds for name in names]

    def folder(seed: int, name: str) -> Path:
        return args.data / "probe" / str(seed) if name == "probe" else args.data / "variants" / str(seed) / name

    predictions = {(s, n): read_predictions(args.data / "eval" / str(s) / f"{n}.csv") for s, n in keys}
    sizes = {(s, n): m for s, n in keys if (m := _optional_json(args.eval_metrics / str(s) / f"{n}.json"))}
    plans = {(s, n): p["ranks"] for s, n in keys if n != "probe"
             and (p := _optional_json(folder(s, n) / "plan.json"))}
    run = next((r for s in params.seeds if (r := _optional_json(folder(s, "probe") / "run.json"))), {})
    verdict = decide(params, policy, predictions, scope_ok=_in_scope(params, policy, run))

    facts = {"model": params.model.name, "model type": run.get("model_type", "unknown"),
             "model fingerprint": runfacts.model_fingerprint(params.model.name),
             "data": f"{params.data.source} ({params.data.train_size} train drawn per seed, "
                     f"first {params.data.eval_size} of {params.data.eval_split})",
             "data fingerprints": _data_fingerprints(args.data, params.seeds),
             "training device": run.get("device", "unknown"), "python": run.get("python", "unknown"),
             "packages": run.get("packages", runfacts.package_versions()), "code revision": runfacts.git_revision()}
    write_json(args.out, metrics(verdict, sizes))
    write_text(args.report, report.render(params, policy, verdict, plans, sizes, facts))
    logs = {(s, n): _read_log(folder(s, n) / "train_log.csv") for s, n in keys}
    probe_spectra = {s: {m: v["singular_values"] for m, v in sp["modules"].items()} for s in params.seeds
                     if (sp := _optional_json(folder(s, "probe") / "spectra.json"))}
    write_csv(args.plots / "loss.csv", plotdata.loss_rows(logs), ["step", "loss", "series"])
    write_csv(args.plots / "delta.csv", plotdata.delta_rows(verdict, params.certify.tolerance),
              ["variant", "seed", "delta", "ci_low", "ci_high", "threshold"])
    write_csv(args.plots / "rank_plan.csv", plotdata.plan_rows({k: v for k, v in plans.items() if k[1] == "per_layer"}),
              ["layer", "module", "rank", "variant"])
    write_csv(args.plots / "spectra.csv", plotdata.spectrum_rows(probe_spectra), ["index", "singular_value", "series"])
    print(f"[certify] {'CERTIFIED' if verdict.certified else 'NOT CERTIFIED'} ({verdict.level.name}); "
          + ", ".join(f"{n} {s.status}" for n, s in verdict.summaries.items()), flush=True)
    for reason in verdict.reasons:
        print(f"[certify]   {reason}", flush=True)
    if args.strict and not verdict.certified:
        sys.exit(1)


def _in_scope(params, policy, run: dict) -> bool:
    family = run.get("model_type")
    task_names = {Path(params.data.source).name.lower(), params.data.config.lower()}
    return family == policy.scope.model_family and policy.scope.task.lower() in task_names


def _data_fingerprints(data: Path, seeds: list[int]) -> str:
    parts = []
    for seed in seeds:
        manifest = _optional_json(data / "prepared" / str(seed) / "manifest.json")
        if manifest:
            parts.append(f"seed {seed} train {manifest['train']['fingerprint'][:12]}")
            evaluation = manifest["eval"]["fingerprint"][:12]
    return "; ".join(parts) + (f"; eval {evaluation}" if parts else "")


if __name__ == "__main__":
    run_main(main)
