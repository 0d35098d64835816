"""Every figure of the certificate, derived again from what verify read (rankcert.verification.workspace).

The assembly is verify's own: per seed from the correctness vectors, per variant from the seeds, the level from
the run records. What is shared with certify is the statistics' definitions only: the pass test and probe gate,
the paired bootstrap CI, McNemar's p and Δ's standard error (stats), the population verdict (population.judge),
the evidence and stability figures (evidence.assess), the validation level's thresholds (stats.validation_level),
a policy claim's outcome (policy.check_claims), what counts as a record disagreeing with params
(recorded.disagreements, on records read here) and a departure from the plan (plan.departure).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rankcert.certification import collapse, evidence, plan, population, stats
from rankcert.certification.certificate import FrontierSummary
from rankcert.certification.policy import ClaimCheck, check_claims, criteria_differences, load_policy
from rankcert.certification.recorded import disagreements
from rankcert.certification.run_results import RunResults
from rankcert.certification.stats import FAIL, MISSING, PASS, UNDERTRAINED
from rankcert.certification.words import LevelName, Outcome, ReasonKind, Safety
from rankcert.config.records import IMPORTED
from rankcert.runtime.layout import PROBE
from rankcert.verification.workspace import Release, eval_labels


@dataclass(frozen=True)
class SeedFigures:
    status: str  # PASS | FAIL | UNDERTRAINED | MISSING
    accuracy: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    mcnemar_p: float | None = None
    se_delta: float | None = None


@dataclass(frozen=True)
class VariantFigures:
    seeds: dict[int, SeedFigures]
    pass_rate: float
    worst_delta: float | None
    mean_delta: float | None
    std_delta: float | None
    safe: bool
    non_inferior: bool

    @property
    def spec(self) -> Safety:
        return Safety.SAFE if self.safe else Safety.UNSAFE

    @property
    def observed(self) -> Safety | None:
        return None if self.worst_delta is None else self.spec


@dataclass(frozen=True)
class Derived:
    seeds: list[int]
    probe_accuracy: dict[int, float | None]
    undertrained: list[int]
    variants: dict[str, VariantFigures]
    population: dict[str, population.PopulationVerdict]
    evidence: dict[str, evidence.Evidence]
    level: stats.Level
    claims: list[ClaimCheck]
    criteria: list[str]
    in_scope: bool
    disagreements: list[str]
    exploratory: str | None
    frontier: FrontierSummary  # the certificate's record, filled from what is derived here
    collapses: list[collapse.Collapse]
    collapse_rates: dict[str, collapse.CollapseRate]

    @property
    def reasons(self) -> list[tuple[ReasonKind, str | None, str | None]]:
        """Why the run is not certified, as (kind, variant, claim)."""
        return reasons(self)


def derive(release: Release) -> Derived:
    """The certificate's figures as the predictions and records give them."""
    params, rule = release.params, release.params.certify
    correct = {key: a.correct for key, a in release.adapters.items()}
    probe = {s: correct.get((s, PROBE)) for s in params.seeds}
    probe_accuracy = {s: None if c is None else float(c.mean()) for s, c in probe.items()}
    variants = {name: variant(probe, {s: correct.get((s, name)) for s in params.seeds}, rule)
                for name in params.variant_names}
    judged = {name: population.judge([None if f.status == UNDERTRAINED else f.delta for f in v.seeds.values()],
                                     rule.population, rule.tolerance, rule.confidence) for name, v in variants.items()}
    split_rows = next((m.eval.split_rows for m in release.manifests.values()), None)
    found = evidence.assess(probe, {name: {s: correct.get((s, name)) for s in params.seeds}
                                    for name in params.variant_names}, rule, split_rows)
    claims, criteria, in_scope = against_policy(release, variants, judged)
    undertrained = [s for s, a in probe_accuracy.items() if stats.undertrained(a, rule)]
    return Derived(
        seeds=list(params.seeds), probe_accuracy=probe_accuracy, undertrained=undertrained, variants=variants,
        population=judged, evidence=found, level=level(release), claims=claims,
        criteria=criteria, in_scope=in_scope,
        disagreements=disagreements(params, _as_results(release)), exploratory=exploratory(release, judged),
        frontier=frontier(release, variants), **collapses(release))


def collapses(release: Release) -> dict:
    """Collapsed runs and each adapter's collapse rate, from every adapter's accuracy and the eval labels' chance."""
    seeds, names = release.params.seeds, [PROBE, *release.params.variant_names]
    labels = next((eval_labels(release.layout, s) for s in seeds if (s, PROBE) in release.adapters), None)
    if labels is None:
        return {"collapses": [], "collapse_rates": {}}
    accuracy = {s: {n: float(a.correct.mean()) if (a := release.adapters.get((s, n))) else None for n in names}
                for s in seeds}
    found, rates = collapse.survey(accuracy, labels.tolist())
    return {"collapses": found, "collapse_rates": rates}


def against_policy(release: Release, variants: dict[str, VariantFigures],
                   judged: dict[str, population.PopulationVerdict]) -> tuple[list[ClaimCheck], list[str], bool]:
    """(each claim checked, where the policy's criteria differ from params, whether the run is in its scope: the
    first probe's model type and the data's task)."""
    params, rule = release.params, release.params.certify
    policy = load_policy(_at(release.root, rule.policy))
    claims = check_claims(policy, {n: v.observed for n, v in variants.items()}, {n: p.verdict for n, p in judged.items()})
    first = next((a.run for (_, name), a in release.adapters.items() if name == PROBE), None)
    tasks = {Path(params.data.source).name.lower(), params.data.config.lower()}
    in_scope = (first and first.model_type) == policy.scope.model_family and policy.scope.task.lower() in tasks
    return claims, criteria_differences(policy, rule.tolerance, rule.min_pass_rate), bool(in_scope)


def seed_figures(probe: np.ndarray | None, other: np.ndarray | None, seed: int, rule: stats.Rule) -> SeedFigures:
    """One seed's figures from the probe's and the variant's per-example correctness."""
    if probe is None or other is None:
        return SeedFigures(MISSING)
    n = probe.size
    delta = (int(other.sum()) - int(probe.sum())) / n
    low, high = stats.paired_bootstrap_ci(probe, other, rule.bootstrap_resamples, rule.bootstrap_seed + seed,
                                          rule.confidence)
    status = (UNDERTRAINED if stats.undertrained(float(probe.mean()), rule)
              else PASS if stats.passes(delta, rule.tolerance) else FAIL)
    return SeedFigures(status, float(other.mean()), delta, low, high, stats.mcnemar_exact(probe, other),
                       stats.paired_se(probe, other))


def variant(probe: dict[int, np.ndarray | None], other: dict[int, np.ndarray | None], rule: stats.Rule) -> VariantFigures:
    """A variant over every configured seed: a seed without a result counts, and fails."""
    seeds = {s: seed_figures(probe[s], other[s], s, rule) for s in probe}
    deltas = [f.delta for f in seeds.values() if f.delta is not None]
    pass_rate = sum(f.status == PASS for f in seeds.values()) / len(seeds) if seeds else 0.0
    worst = min(deltas, default=None)
    return VariantFigures(
        seeds, pass_rate, worst, statistics.fmean(deltas) if deltas else None,
        statistics.stdev(deltas) if len(deltas) >= 2 else None,
        bool(stats.at_least(pass_rate, rule.min_pass_rate)) and worst is not None and stats.passes(worst, rule.tolerance),
        bool(seeds) and all(f.ci_low is not None and stats.passes(f.ci_low, rule.tolerance) for f in seeds.values()))


def level(release: Release) -> stats.Level:
    """The validation level from what the run records say ran: seeds with a probe, the fewest steps trained,
    train examples drawn and eval examples evaluated."""
    adapters, params = release.adapters, release.params
    seeds = [s for s in params.seeds if (s, PROBE) in adapters]
    steps = min((a.run.training.steps for a in adapters.values() if a.run.training.steps is not None), default=0)
    train = min((release.manifests[s].train.rows for s in seeds if s in release.manifests), default=0)
    evaluated = min((a.evaluation.examples for a in adapters.values()), default=0)
    imported = any(adapters[(s, PROBE)].run.training.source == IMPORTED for s in seeds)
    return stats.validation_level(len(seeds), steps, train, evaluated, params.certify.certifiable, imported=imported)


def exploratory(release: Release, judged: dict[str, population.PopulationVerdict]) -> str | None:
    """Why this read departs from the declared plan (None: it is one of its looks). The looks file holds every
    look read; this read's own, if recorded, agrees with it, so reading against all of them finds the same."""
    declared = release.plan
    this = plan.Look(list(release.params.seeds), {n: p.verdict for n, p in judged.items()},
                     {n: _r(p.confidence_spent) for n, p in judged.items()}, declared.sha256)
    return plan.departure(declared, release.looks, plan.from_params(release.params), this)


def frontier(release: Release, variants: dict[str, VariantFigures]) -> FrontierSummary:
    """The frontier's figures: the smallest SAFE variant and uniform rank, the SAFE Pareto points (smaller and
    not worse in mean Δ than any other SAFE one), and how truncating the probe compares with retraining."""
    kinds = {v.name: v for v in release.params.variants}
    points = []  # (parameters, name, mean Δ, safe)
    for name, v in variants.items():
        sizes = [release.adapters[(s, name)].evaluation.trainable_parameters
                 for s, f in v.seeds.items() if f.delta is not None and (s, name) in release.adapters]
        if sizes:
            points.append((statistics.fmean(sizes), name, v.mean_delta, v.safe))
    points.sort(key=lambda p: (p[0], p[1]))
    safe = [p for p in points if p[3]]
    pareto = [p for p in safe if not any(o is not p and o[0] <= p[0] and o[2] >= p[2] and (o[0] < p[0] or o[2] > p[2])
                                         for o in safe)]
    pairs = truncation_pairs(variants, kinds)
    gap = max((abs(t - r) for t, r in pairs), default=None)
    cut, kept = zip(*pairs) if pairs else ((), ())
    correlation = (statistics.correlation(cut, kept) if len(pairs) >= 3 and len(set(cut)) > 1 and len(set(kept)) > 1
                   else None)
    ranks = [kinds[n].uniform_rank for n, v in variants.items() if v.safe and kinds[n].uniform_rank is not None]
    return FrontierSummary(min(ranks, default=None), round(safe[0][0], 1) if safe else None, safe[0][1] if safe else None,
                    len(safe), len(pareto), None if gap is None else _r(gap), None if correlation is None else _r(correlation))


def truncation_pairs(variants: dict[str, VariantFigures], kinds: dict) -> list[tuple[float, float]]:
    """(Δ truncated, Δ retrained) for every truncated variant and seed where both were measured."""
    pairs = []
    for name, v in variants.items():
        twin = kinds[name].truncates
        if twin is None or twin.name not in variants:
            continue
        kept = variants[twin.name].seeds
        pairs += [(f.delta, kept[s].delta) for s, f in v.seeds.items() if f.delta is not None and kept[s].delta is not None]
    return pairs


def reasons(d: Derived) -> list[tuple[ReasonKind, str | None, str | None]]:
    """Why the run is not certified, as (kind, variant, claim): one per reason certify lists."""
    found = [(ReasonKind.EXPLORATORY, None, None)] if d.exploratory else []
    found += [(ReasonKind.LEVEL, None, None)] if d.level.name != LevelName.CERTIFIABLE else []
    found += [(ReasonKind.DISAGREEMENT, None, None)] * len(d.disagreements)
    said: dict[str, list[ClaimCheck]] = {}  # a variant's claims state one fact: one reason, its claims joined
    for c in d.claims:
        said.setdefault(c.variant, []).append(c)
    for outcome, kind in ((Outcome.CONTRADICTS, ReasonKind.CLAIM_CONTRADICTED), (Outcome.UNSETTLED, ReasonKind.CLAIM_UNSETTLED),
                          (Outcome.NOT_MEASURED, ReasonKind.CLAIM_NOT_MEASURED)):
        found += [(kind, variant, " and ".join(c.claim for c in checks)) for variant, checks in said.items()
                  if checks[0].outcome == outcome]
    found += [(ReasonKind.CRITERIA, None, None)] * len(d.criteria)
    found += [] if d.in_scope else [(ReasonKind.OUT_OF_SCOPE, None, None)]
    return found


def _as_results(release: Release) -> RunResults:
    """The records read here, in the shape recorded.disagreements reads them (nothing else is filled in)."""
    return RunResults(predictions={}, evaluations={k: a.evaluation for k, a in release.adapters.items()},
                      runs={k: a.run for k, a in release.adapters.items()}, manifests=release.manifests, plans={},
                      logs={}, probe_spectra={}, data_fingerprints="", missing={})


def _at(root: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else root / path


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
