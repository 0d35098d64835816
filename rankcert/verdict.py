"""The certification verdict: gather evaluated predictions, apply the rule, check the policy, and shape metrics."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rankcert import evidence, population, stats
from rankcert.params import Params, Variant
from rankcert.policy import CONTRADICTS, UNSETTLED, ClaimCheck, Policy, check_claims, criteria_differences


@dataclass(frozen=True)
class Verdict:
    certified: bool
    reasons: list[str]  # why not certified (empty when certified)
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
    population: dict[str, population.PopulationVerdict]  # variant -> the claim about the next training run


def decide(params: Params, policy: Policy, predictions: dict[tuple[int, str], pd.DataFrame | None],
           scope_ok: bool, split_rows: int | None = None) -> Verdict:
    """Everything certify concludes, from predictions keyed by (seed, adapter name); `split_rows`: the whole
    eval split's size, for the evidence prediction there."""
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
    n = next((len(c) for c in probe_correct.values() if c is not None), 0)
    shares = {name: e.share_now for name, e in found.items()}
    probe_accuracy = {s: None if c is None else float(c.mean()) for s, c in probe_correct.items()}
    undertrained = [s for s, a in probe_accuracy.items() if stats.undertrained(a, rule)]
    level = stats.validation_level(len(params.seeds), params.train.steps, params.data.train_size,
                                   params.data.eval_rows or n, params.certify.certifiable,
                                   imported=params.probe.adapter is not None)
    judged = {name: population.judge([None if r.status == stats.UNDERTRAINED else r.delta for r in s.seeds],
                                     rule.population, rule.tolerance, rule.confidence,
                                     _eval_sd(probe_correct, correct[name]))
              for name, s in summaries.items()}
    claims = check_claims(policy, {name: s.observed for name, s in summaries.items()},
                          {name: p.verdict for name, p in judged.items()})
    differences = criteria_differences(policy, rule.tolerance, rule.min_pass_rate)
    reasons = []
    if level.name != "certifiable":
        reasons.append(f"validation level is {level.name} ({'; '.join(level.reasons)})")
    if undertrained:
        reasons.append(f"probe quality gate failed for seed(s) {undertrained}")
    reasons += [f"policy claim contradicted: {c.claim} (observed {c.observed}, population verdict {c.population})"
                for c in claims if c.outcome == CONTRADICTS]
    reasons += [f"policy claim unsettled: {c.claim} (observed {c.observed}; population verdict UNSETTLED at "
                f"{judged[c.variant].seeds} seeds: `make settle` adds seeds)" for c in claims if c.outcome == UNSETTLED]
    reasons += [f"policy criteria differ from params: {d}" for d in differences]
    if not scope_ok:
        reasons.append(f"run is outside the policy's scope ({policy.scope.model_family}/{policy.scope.task})")
    return Verdict(not reasons, reasons, level, probe_accuracy, undertrained, summaries, claims, differences, scope_ok,
                   shares, {v.name: v for v in params.variants}, found, judged)


def _eval_sd(probe: dict, variant: dict):
    """k -> the eval-set part of one seed's Δ spread over the first k seeds (0 where a seed is missing)."""
    def at(k: int) -> float:
        seeds = list(probe)[:k]
        if k < 2 or any(probe[s] is None or variant.get(s) is None for s in seeds):
            return 0.0
        return evidence.components(np.stack([variant[s].astype(np.int8) - probe[s].astype(np.int8)
                                             for s in seeds])).parts_sd[1]
    return at


def _column(frame: pd.DataFrame | None) -> np.ndarray | None:
    return None if frame is None else frame["prediction"].to_numpy()


def _correct(frame: pd.DataFrame | None) -> np.ndarray | None:
    return None if frame is None else (frame["prediction"] == frame["label"]).to_numpy()


def metrics(verdict: Verdict, sizes: dict[tuple[int, str], dict]) -> dict:
    """The certify metrics file: scalars only, stable keys, nothing that varies between identical runs."""
    variants = {}
    for name, s in verdict.summaries.items():
        seeds = {}
        for r in s.seeds:
            size = sizes.get((r.seed, name), {})
            seeds[f"seed_{r.seed}"] = {"adapter_sha256": size.get("adapter_sha256"), "status": r.status,
                                       "passed": r.passed, "accuracy": _r(r.accuracy),
                                       "delta": _r(r.delta), "ci_low": _r(r.ci_low), "ci_high": _r(r.ci_high),
                                       "mcnemar_p": _r(r.mcnemar_p), "se_delta": _r(r.se),
                                       "trainable_parameters": size.get("trainable_parameters"),
                                       "reduction_vs_probe": size.get("reduction_vs_probe")}
        measured = [sizes[(r.seed, name)] for r in s.seeds if (r.seed, name) in sizes]
        reductions = [m["reduction_vs_probe"] for m in measured]
        trainable = [m["trainable_parameters"] for m in measured]
        variants[name] = {"status": s.status, "safe": s.safe, "pass_rate": _r(s.pass_rate),
                          "worst_delta": _r(s.worst_delta), "mean_delta": _r(s.mean_delta),
                          "std_delta": _r(s.std_delta), "non_inferior": s.non_inferior,
                          "stability": _r(verdict.stability.get(name)),
                          **_evidence_scalars(verdict.evidence.get(name)),
                          "population": _population_scalars(verdict.population[name]),
                          "mean_reduction_vs_probe": _r(sum(reductions) / len(reductions)) if reductions else None,
                          "mean_trainable_parameters": _r(sum(trainable) / len(trainable)) if trainable else None,
                          "seeds": seeds}
    counts = {outcome: sum(c.outcome == outcome for c in verdict.claims)
              for outcome in ("agrees", "contradicts", "unsettled", "not measured")}
    return {
        "certified": verdict.certified,
        "level": verdict.level.name,
        "probe": {"gate_passed": not verdict.undertrained, "undertrained_seeds": len(verdict.undertrained),
                  **{f"seed_{s}_accuracy": _r(a) for s, a in verdict.probe_accuracy.items()},
                  **{f"seed_{s}_adapter_sha256": sizes.get((s, "probe"), {}).get("adapter_sha256")
                     for s in verdict.probe_accuracy}},
        "policy": {"in_scope": verdict.in_scope, "criteria_match": not verdict.criteria_differences,
                   "claims_agree": counts["agrees"], "claims_contradicted": counts["contradicts"],
                   "claims_unsettled": counts["unsettled"], "claims_not_measured": counts["not measured"]},
        "variants": variants,
    }


def _evidence_scalars(found: evidence.Evidence | None) -> dict:
    if found is None:
        return {}
    return {"mean_delta_lower_95": _r(found.mean_delta_lower_95), "p_new_seed_passes": _r(found.p_new_seed_passes),
            "seeds_for_stable_verdict": found.seeds_for_stable_verdict, "stable_verdict": found.stable_verdict}


def _population_scalars(p: population.PopulationVerdict) -> dict:
    return {"verdict": p.verdict, "lower": _r(p.lower), "seeds": p.seeds, "looks_used": p.looks_used,
            "confidence_spent": _r(p.confidence_spent), "distribution_free": p.distribution_free,
            "normality_doubtful": None if p.normality is None else p.normality.doubtful}


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
