"""The certification verdict: gather evaluated predictions, apply the rule, check the policy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rankcert.certification import collapse, evidence, population, stats
from rankcert.certification.certificate import Reason
from rankcert.certification.policy import ClaimCheck, Policy, check_claims, criteria_differences
from rankcert.certification.recorded import Recorded
from rankcert.certification.words import LevelName, Outcome, ReasonKind, Safety
from rankcert.config.params import Params, Variant


@dataclass(frozen=True)
class Verdict:
    certified: bool
    reasons: list[Reason]  # why not certified (empty when certified): decided here once, carried by the certificate
    level: stats.Level
    probe_accuracy: dict[int, float | None]
    undertrained: list[int]
    summaries: dict[str, stats.VariantSummary]
    claims: list[ClaimCheck]
    criteria_differences: list[str]
    in_scope: bool
    stability: dict[str, float]  # variant -> share of joint bootstrap resamples in which it is SAFE
    variants: dict[str, Variant]  # name -> what the variant is (its kind, rank, what it truncates)
    evidence: dict[str, evidence.Evidence]  # variant -> the population reading and how much evidence it needs
    population: dict[str, population.PopulationVerdict]  # variant -> the claim about training runs on this eval set
    collapses: list[collapse.Collapse]  # every run that fell to chance or far below its seed's other runs
    collapse_rates: dict[str, collapse.CollapseRate]  # adapter ("probe" or a variant) -> its collapse rate


def decide(params: Params, policy: Policy, predictions: dict[tuple[int, str], pd.DataFrame | None],
           scope_ok: bool, ran: Recorded, split_rows: int | None = None) -> Verdict:
    """Everything certify concludes, from predictions keyed by (seed, adapter name) and what the stages' records
    say `ran` (the validation level is theirs, not params'); `split_rows`: the whole eval split's size, for the
    evidence prediction there."""
    rule = params.certify
    probes = {seed: predictions.get((seed, "probe")) for seed in params.seeds}
    summaries, correct = {}, {}
    for variant in params.variant_names:
        results = []
        for seed, probe in probes.items():
            other = predictions.get((seed, variant))
            labels = None if probe is None else probe["label"].to_numpy()  # results.py checked every file's labels
            results.append(stats.seed_result(seed, labels, _column(probe), _column(other), rule))
            correct.setdefault(variant, {})[seed] = _correct(other)
        summaries[variant] = stats.summarize(variant, results, rule)
    probe_correct = {seed: _correct(probe) for seed, probe in probes.items()}
    found = evidence.assess(probe_correct, correct, rule, split_rows)
    shares = {name: e.share_now for name, e in found.items()}
    probe_accuracy = {s: None if c is None else float(c.mean()) for s, c in probe_correct.items()}
    undertrained = [s for s, a in probe_accuracy.items() if stats.undertrained(a, rule)]
    level = stats.validation_level(len(ran.seeds), ran.steps, ran.train_examples, ran.eval_examples,
                                   params.certify.certifiable, imported=ran.imported)
    judged = {name: population.judge([None if r.status == stats.UNDERTRAINED else r.delta for r in s.seeds],
                                     rule.population, rule.tolerance, rule.confidence)
              for name, s in summaries.items()}
    claims = check_claims(policy, {name: s.observed for name, s in summaries.items()},
                          {name: p.verdict for name, p in judged.items()})
    differences = criteria_differences(policy, rule.tolerance, rule.min_pass_rate)
    reasons = not_certified(level, ran.disagreements, claims, judged, differences, scope_ok, policy)
    collapsed, rates = collapses(probes, probe_correct, correct)
    return Verdict(not reasons, reasons, level, probe_accuracy, undertrained, summaries, claims, differences, scope_ok,
                   shares, {v.name: v for v in params.variants}, found, judged, collapsed, rates)


def collapses(probes: dict, probe_correct: dict, correct: dict) -> tuple[list[collapse.Collapse],
                                                                        dict[str, collapse.CollapseRate]]:
    """Every collapsed run and each adapter's collapse rate, from the per-example correctness of every run."""
    labels = next((frame["label"].to_numpy() for frame in probes.values() if frame is not None), None)
    if labels is None:
        return [], {}
    runs = {"probe": probe_correct, **correct}
    return collapse.survey({seed: {name: None if by_seed.get(seed) is None else float(by_seed[seed].mean())
                                   for name, by_seed in runs.items()} for seed in probes}, labels.tolist())


def not_certified(level: stats.Level, disagreements: list[str], claims: list[ClaimCheck],
                  judged: dict[str, population.PopulationVerdict], differences: list[str], scope_ok: bool,
                  policy: Policy) -> list[Reason]:
    """Every reason the run is not certified, each worded once: the report, certify's output and the pre-release
    gate print these (through the certificate). A probe that failed its gate is no reason of its own: its seed is a
    failed run for every variant (the spec's rule), which costs the population verdict seeds, not its settling."""
    reasons = []
    if level.name != LevelName.CERTIFIABLE:
        reasons.append(Reason.about_run(ReasonKind.LEVEL,
                                        f"validation level is {level.name} ({'; '.join(level.reasons)})"))
    reasons += [Reason.about_run(ReasonKind.DISAGREEMENT, f"the run's records disagree with params: {line} "
                                                          "(`dvc repro` reruns what is stale)") for line in disagreements]
    reasons += claim_reasons(claims, judged)
    reasons += [Reason.about_run(ReasonKind.CRITERIA, f"policy criteria differ from params: {d}") for d in differences]
    if not scope_ok:
        reasons.append(Reason.about_run(ReasonKind.OUT_OF_SCOPE, f"run is outside the policy's scope "
                                                                 f"({policy.scope.model_family}/{policy.scope.task})"))
    return reasons


def claim_reasons(claims: list[ClaimCheck], judged: dict[str, population.PopulationVerdict]) -> list[Reason]:
    """A reason per variant whose claims are contradicted, unsettled or not measured: one fact, one line, however
    many claims state it ("uniform_r20 is SAFE and primary uniform rank 20 is SAFE"). A variant's claims all
    expect one verdict (the policy refuses a conflict), so they share their outcome. Contradicted first, then
    unsettled, then not measured."""
    by_variant: dict[str, list[ClaimCheck]] = {}
    for c in claims:
        by_variant.setdefault(c.variant, []).append(c)
    reasons = {outcome: [] for outcome in (Outcome.CONTRADICTS, Outcome.UNSETTLED, Outcome.NOT_MEASURED)}
    for variant, checks in by_variant.items():
        first, said = checks[0], " and ".join(c.claim for c in checks)
        if first.outcome == Outcome.CONTRADICTS:
            reasons[first.outcome].append(Reason(
                ReasonKind.CLAIM_CONTRADICTED, f"policy claim contradicted: {said} (observed {first.observed}, "
                                               f"population verdict {first.population})", variant, said))
        elif first.outcome == Outcome.UNSETTLED:
            reasons[first.outcome].append(Reason(
                ReasonKind.CLAIM_UNSETTLED, f"policy claim unsettled: {said} (observed {first.observed}; population "
                                            f"verdict {Safety.UNSETTLED} at {judged[variant].seeds} seeds: `make "
                                            "settle` adds seeds)", variant, said))
        elif first.outcome == Outcome.NOT_MEASURED:
            why = ("no seed of it was measured" if variant in judged
                   else "params.yaml variants do not include it: add it to certify the claim")
            reasons[first.outcome].append(Reason(ReasonKind.CLAIM_NOT_MEASURED,
                                                 f"policy claim not measured: {said} ({why})", variant, said))
    return [reason for found in reasons.values() for reason in found]


def _column(frame: pd.DataFrame | None) -> np.ndarray | None:
    return None if frame is None else frame["prediction"].to_numpy()


def _correct(frame: pd.DataFrame | None) -> np.ndarray | None:
    return None if frame is None else (frame["prediction"] == frame["label"]).to_numpy()
