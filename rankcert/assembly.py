"""Certify's assembly: the stage outputs read back, the verdict, and everything certify writes, made in memory.

The stage (stages/certify.py) only writes what certify() returns: the certificate
(rankcert.certification.certificate), the report, its pictures, the plot data, and the declared plan with the
looks read under it (rankcert.certification.plan). Facts in the report come from the stages' records and tracked
inputs only (no git state), so the same inputs always give the same bytes.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from rankcert.certification import certificate as record
from rankcert.certification import frontier, plan
from rankcert.certification.policy import Policy, load_policy
from rankcert.certification.recorded import Recorded, recorded
from rankcert.certification.run_results import RunResults, read_results
from rankcert.certification.stats import SeedResult
from rankcert.certification.verdict import Verdict, decide
from rankcert.certification.words import Outcome, ReasonKind
from rankcert.config.params import Params
from rankcert.config.records import AdapterRun, Evaluation
from rankcert.reporting import figures, plotdata, report
from rankcert.runtime import runfacts
from rankcert.runtime.layout import Layout
from rankcert.runtime.outputs import csv_text
from rankcert.training import identity


@dataclass(frozen=True)
class Certification:
    verdict: Verdict
    certificate: record.Certificate
    plot_data: dict[str, str]  # plot name -> CSV text (plots/data/<name>.csv)
    figures: dict[str, bytes]  # figure name -> PNG (metrics/figures/<name>.png)
    report: str  # report.md, its pictures linked relative to where it is written
    reading: plan.Reading  # the plan (written at the first read, the same after) and the looks read under it


def assemble(params: Params, layout: Layout, templates: Path, report_path: Path, figures_path: Path) -> Certification:
    """Everything certify concludes about the workspace at `layout`; nothing is written."""
    policy = load_policy(params.certify.policy)
    found = read_results(layout, params.seeds, params.variant_names, params.model.num_labels,
                         identity.base_model(params.model))
    ran = recorded(params, found)
    verdict = decide(params, policy, found.predictions, scope_ok=in_scope(params, policy, found.environment),
                     ran=ran, split_rows=found.eval_split_rows)
    reading = against_plan(params, layout, verdict)
    verdict = exploratory(verdict, reading)
    rows = plotdata.plot_rows(found, verdict, params.certify.tolerance)
    pngs = figures.render_all(templates, rows)
    pictures = {name: os.path.relpath(figures_path / f"{name}.png", report_path.parent) for name in pngs}
    return Certification(
        verdict, certificate(verdict, found.evaluations, reading),
        {name: csv_text(plot, plotdata.COLUMNS[name]) for name, plot in rows.items()}, pngs,
        report.render(params, policy, verdict, found, facts(params, found, ran), pictures, reading), reading)


def against_plan(params: Params, layout: Layout, verdict: Verdict) -> plan.Reading:
    """This read against the declared plan (params' own at the first read) and the looks read before it."""
    stated = plan.from_params(params)
    declared = plan.read_plan(layout.certify_plan) or stated
    this = plan.Look(list(params.seeds), {name: p.verdict for name, p in verdict.population.items()},
                     {name: _r(p.confidence_spent) for name, p in verdict.population.items()}, declared.sha256)
    return plan.read(declared, plan.read_looks(layout.certify_looks), stated, this)


def exploratory(verdict: Verdict, reading: plan.Reading) -> Verdict:
    """An exploratory read is never certified: its reason comes first."""
    if reading.exploratory is None:
        return verdict
    why = f"exploratory read, not a look of the declared plan: {reading.exploratory} ({plan.DOC})"
    first = record.Reason.about_run(ReasonKind.EXPLORATORY, why)
    return dataclasses.replace(verdict, certified=False, reasons=[first, *verdict.reasons])


def certificate(verdict: Verdict, sizes: dict[tuple[int, str], Evaluation], reading: plan.Reading) -> record.Certificate:
    """The verdict as the typed certificate: figures rounded to 6 places, nothing that varies between identical runs."""
    metrics, details = {}, {}
    for name, s in verdict.summaries.items():
        found, p = verdict.evidence.get(name), verdict.population[name]
        metrics[name] = record.VariantMetrics(spec=s.status, population=p.verdict, mean_delta=_r(s.mean_delta),
                                              worst_delta=_r(s.worst_delta), share_lower=_r(p.lower))
        measured = [sizes[(r.seed, name)] for r in s.seeds if (r.seed, name) in sizes]
        details[name] = record.VariantDetails(
            pass_rate=_r(s.pass_rate), stability=_r(verdict.stability.get(name)), std_delta=_r(s.std_delta),
            non_inferior=s.non_inferior,
            evidence=None if found is None else record.EvidenceDetails(
                mean_delta_lower_95=_r(found.mean_delta_lower_95), p_new_seed_passes=_r(found.p_new_seed_passes),
                seeds_for_stable_verdict=found.seeds_for_stable_verdict, stable_verdict=found.stable_verdict),
            population=record.PopulationDetails(
                seeds=p.seeds, looks_used=p.looks_used, confidence_spent=_r(p.confidence_spent),
                passed=p.looks[-1].passed, safe_at=p.looks[-1].safe_at, unsafe_at=p.looks[-1].unsafe_at),
            mean_reduction_vs_probe=_mean([m.reduction_vs_probe for m in measured]),
            mean_trainable_parameters=_mean([m.trainable_parameters for m in measured]),
            seeds={r.seed: _seed(r, sizes.get((r.seed, name))) for r in s.seeds})
    counts = {outcome: sum(c.outcome == outcome for c in verdict.claims) for outcome in Outcome}
    probe = record.ProbeDetails(
        gate_passed=not verdict.undertrained, undertrained_seeds=len(verdict.undertrained),
        seeds={s: record.ProbeSeed(_r(a), (e := sizes.get((s, "probe"))) and e.adapter_sha256)
               for s, a in verdict.probe_accuracy.items()})
    policy = record.PolicyDetails(
        in_scope=verdict.in_scope, criteria_match=not verdict.criteria_differences,
        claims_agree=counts[Outcome.AGREES], claims_contradicted=counts[Outcome.CONTRADICTS],
        claims_unsettled=counts[Outcome.UNSETTLED], claims_not_measured=counts[Outcome.NOT_MEASURED])
    return record.Certificate(record.Metrics(verdict.certified, verdict.level.name, metrics),
                              record.Details(verdict.level.reasons, verdict.reasons, probe, policy, details,
                                             frontier.summary(verdict, sizes), reading, _collapses(verdict)))


def _collapses(verdict: Verdict) -> record.Collapses:
    runs = [dataclasses.replace(c, accuracy=_r(c.accuracy), chance=_r(c.chance), reference=_r(c.reference))
            for c in verdict.collapses]
    rates = {name: dataclasses.replace(r, low=_r(r.low), high=_r(r.high)) for name, r in verdict.collapse_rates.items()}
    return record.Collapses(runs, rates)


def _seed(r: SeedResult, size: Evaluation | None) -> record.SeedDetails:
    return record.SeedDetails(
        status=r.status, passed=r.passed, accuracy=_r(r.accuracy), delta=_r(r.delta), ci_low=_r(r.ci_low),
        ci_high=_r(r.ci_high), mcnemar_p=_r(r.mcnemar_p), se_delta=_r(r.se), adapter_sha256=size and size.adapter_sha256,
        trainable_parameters=size and size.trainable_parameters, reduction_vs_probe=size and size.reduction_vs_probe)


def console_lines(params: Params, verdict: Verdict) -> list[str]:
    """What certify prints: the verdicts, why not certified, and each verdict that is not settled."""
    c = params.certify
    lines = [f"{'CERTIFIED' if verdict.certified else 'NOT CERTIFIED'} ({verdict.level.name}); "
             + ", ".join(f"{n} {s.status}" for n, s in verdict.summaries.items()),
             f"population verdict (at least {c.population.share:.0%} of training runs pass on this eval set of "
             f"{params.data.eval_size} examples, {c.confidence:.0%} confidence): "
             + ", ".join(f"{n} {p.verdict}" for n, p in verdict.population.items())]
    lines += [f"  {reason.text}" for reason in verdict.reasons]
    lines += [f"  collapsed: {c.line()} (a failed run)" for c in verdict.collapses]
    lines += [f"  {name} {verdict.summaries[name].status} is {found.advice()}"
              for name, found in verdict.evidence.items() if not found.settled]
    return lines


def facts(params: Params, found: RunResults, ran: Recorded) -> dict:
    """The report's run facts, from the stages' records (tracked inputs only): what ran, whatever params say now."""
    run, recipe = found.environment, ran.recipe
    evaluated = ran.eval_examples
    eval_rows = f"all {evaluated} rows" if evaluated == found.eval_split_rows else f"first {evaluated}"
    return {"model": _source(params.model.name, params.model.revision),
            "model type": run.model_type if run else "unknown",
            "model fingerprint": run.base_model if run else "unknown",
            "data": f"{_source(params.data.source, params.data.revision)} ({ran.train_examples} train drawn per seed, "
                    f"{eval_rows} of {params.data.eval_split})",
            "data fingerprints": found.data_fingerprints,
            "training": "unknown" if recipe is None else (
                f"{ran.steps} steps, batch {recipe.batch_size}, lr {recipe.lr:g}, {recipe.precision}"),
            "training device": run.device if run else "unknown", "python": run.python if run else "unknown",
            "packages": run.packages if run else runfacts.package_versions()}


def in_scope(params: Params, policy: Policy, run: AdapterRun | None) -> bool:
    """The run's model family and task are the policy's scope."""
    task_names = {Path(params.data.source).name.lower(), params.data.config.lower()}
    return (run and run.model_type) == policy.scope.model_family and policy.scope.task.lower() in task_names


def _source(name: str, revision: str) -> str:
    return name if Path(name).is_dir() else f"{name} (hub, revision {revision})"


def _mean(values: list[float]) -> float | None:
    return _r(sum(values) / len(values)) if values else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
