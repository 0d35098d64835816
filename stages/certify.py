"""Stage certify: every seed and variant against the spec's rule and the stored policy; metrics, report, plots."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rankcert import figures, frontier, identity, plotdata, report, runfacts
from rankcert.errors import run_main
from rankcert.layout import Layout
from rankcert.outputs import csv_text, together
from rankcert.params import load_params
from rankcert.policy import load_policy
from rankcert.recorded import recorded
from rankcert.records import AdapterRun
from rankcert.results import read_results
from rankcert.verdict import decide, metrics


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace whose outputs to certify")
    parser.add_argument("--out", type=Path, help="certify.json (default: the layout's, under --root)")
    parser.add_argument("--report", type=Path, help="report.md (default: the layout's)")
    parser.add_argument("--plots", type=Path, help="plot data for `dvc plots` (default: the layout's)")
    parser.add_argument("--templates", type=Path, help="dvc plots templates (default: the layout's)")
    parser.add_argument("--figures", type=Path, help="PNG pictures for the report (default: the layout's)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--strict", action="store_true", help="exit 1 unless certified (for CI gates)")
    args = parser.parse_args(argv)
    layout = Layout(args.root)
    args.out, args.report = args.out or layout.certificate, args.report or layout.report
    args.plots, args.templates = args.plots or layout.plot_data, args.templates or layout.plot_templates
    args.figures = args.figures or layout.figures
    params = load_params(args.params)
    policy = load_policy(params.certify.policy, params.variant_names)
    found = read_results(layout, params.seeds, params.variant_names, params.model.num_labels,
                         identity.base_model(params.model))
    run, ran = found.environment, recorded(params, found)
    verdict = decide(params, policy, found.predictions, scope_ok=_in_scope(params, policy, run), ran=ran,
                     split_rows=found.eval_split_rows)

    # Facts from the stages' records (tracked inputs only, no git state): what ran, whatever params say now.
    recipe = ran.recipe
    facts = {"model": _source(params.model.name, params.model.revision),
             "model type": run.model_type if run else "unknown",
             "model fingerprint": run.base_model if run else "unknown",
             "data": f"{_source(params.data.source, params.data.revision)} ({ran.train_examples} train drawn per seed, "
                     f"{_eval_rows(ran.eval_examples, found.eval_split_rows)} of {params.data.eval_split})",
             "data fingerprints": found.data_fingerprints,
             "training": "unknown" if recipe is None else (
                 f"{ran.steps} steps, batch {recipe.batch_size}, lr {recipe.lr:g}, {recipe.precision}"),
             "training device": run.device if run else "unknown", "python": run.python if run else "unknown",
             "packages": run.packages if run else runfacts.package_versions()}
    rows = plotdata.plot_rows(found, verdict, params.certify.tolerance)
    pictures = {}
    with together() as out:  # every output is made before any replaces its predecessor
        plots, shown = out.folder(args.plots), out.folder(args.figures)  # whole folders: nothing stale is left
        for name, plot in rows.items():
            (plots / f"{name}.csv").write_text(csv_text(plot, plotdata.COLUMNS[name]), encoding="utf-8")
        for name, png in figures.render_all(args.templates, rows).items():
            (shown / f"{name}.png").write_bytes(png)
            pictures[name] = os.path.relpath(args.figures / f"{name}.png", args.report.parent)
        out.json(args.out, {**metrics(verdict, found.evaluations),
                            "frontier": frontier.scalars(verdict, found.evaluations)})
        out.text(args.report, report.render(params, policy, verdict, found, facts, pictures))
    print(f"[certify] {'CERTIFIED' if verdict.certified else 'NOT CERTIFIED'} ({verdict.level.name}); "
          + ", ".join(f"{n} {s.status}" for n, s in verdict.summaries.items()), flush=True)
    share = params.certify.population.share
    print(f"[certify] population verdict (at least {share:.0%} of runs, {params.certify.confidence:.0%} confidence): "
          + ", ".join(f"{n} {p.verdict}" for n, p in verdict.population.items()), flush=True)
    for reason in verdict.reasons:
        print(f"[certify]   {reason}", flush=True)
    for name, found in verdict.evidence.items():
        if not found.settled:
            print(f"[certify]   {name} {verdict.summaries[name].status} is {found.advice()}", flush=True)
    if args.strict and not verdict.certified:
        sys.exit(1)


def _eval_rows(evaluated: int, split_rows: int | None) -> str:
    return f"all {evaluated} rows" if evaluated == split_rows else f"first {evaluated}"


def _source(name: str, revision: str) -> str:
    return name if Path(name).is_dir() else f"{name} (hub, revision {revision})"


def _in_scope(params, policy, run: AdapterRun | None) -> bool:
    family = run and run.model_type
    task_names = {Path(params.data.source).name.lower(), params.data.config.lower()}
    return family == policy.scope.model_family and policy.scope.task.lower() in task_names


if __name__ == "__main__":
    run_main(main, keeps_outputs=True)  # its outputs are persist in dvc.yaml
