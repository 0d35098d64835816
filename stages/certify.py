"""Stage certify: every seed and variant against the spec's rule and the stored policy; metrics, report, plots."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from rankcert import plotdata, report, runfacts
from rankcert.errors import run_main
from rankcert.outputs import write_csv, write_json, write_text
from rankcert.params import load_params
from rankcert.policy import load_policy
from rankcert.results import read_results
from rankcert.verdict import decide, metrics


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
    policy = load_policy(params.certify.policy, params.variant_names)
    found = read_results(args.data, args.eval_metrics, params.seeds, params.variant_names)
    run = found.run
    verdict = decide(params, policy, found.predictions, scope_ok=_in_scope(params, policy, run))

    facts = {"model": params.model.name, "model type": run.get("model_type", "unknown"),
             "model fingerprint": runfacts.model_fingerprint(params.model.name),
             "data": f"{params.data.source} ({params.data.train_size} train drawn per seed, "
                     f"first {params.data.eval_size} of {params.data.eval_split})",
             "data fingerprints": found.data_fingerprints,
             "training device": run.get("device", "unknown"), "python": run.get("python", "unknown"),
             "packages": run.get("packages", runfacts.package_versions()), "code revision": runfacts.git_revision()}
    write_json(args.out, metrics(verdict, found.sizes))
    write_text(args.report, report.render(params, policy, verdict, found.plans, found.sizes, facts))
    per_layer = {k: v for k, v in found.plans.items() if k[1] == "per_layer"}
    write_csv(args.plots / "loss.csv", plotdata.loss_rows(found.logs), ["step", "loss", "series"])
    write_csv(args.plots / "delta.csv", plotdata.delta_rows(verdict, params.certify.tolerance),
              ["variant", "seed", "delta", "ci_low", "ci_high", "threshold"])
    write_csv(args.plots / "rank_plan.csv", plotdata.plan_rows(per_layer), ["layer", "module", "rank", "variant"])
    write_csv(args.plots / "spectra.csv", plotdata.spectrum_rows(found.probe_spectra),
              ["index", "singular_value", "series"])
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


if __name__ == "__main__":
    run_main(main)
