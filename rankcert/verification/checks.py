"""The certificate compared with what the predictions and records give, section by section: each section is one
function (SECTIONS, in order); the first figure that differs stops verify with one line naming it.

A figure is compared at the certificate's rounding (6 places, as certify writes it); verdicts, counts, hashes and
flags exactly. Keys are named as in the files: `variants.uniform_r20.seeds.123.delta` in the details,
`spec.uniform_r20` in the metrics file.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rankcert.certification.stats import PASS
from rankcert.certification.words import Outcome
from rankcert.runtime.layout import PROBE
from rankcert.verification.derive import Derived
from rankcert.verification.workspace import Mismatch, Release

PLACES = 6  # the certificate's rounding (rankcert.assembly._r)
PREDICTIONS = "the predictions give"


class Tally:
    """Counts the figures compared; raises Mismatch at the first that differs."""

    def __init__(self, release: Release):
        self.release = release
        self.figures = 0

    def same(self, path: Path, key: str, stated: object, derived: object, source: str = PREDICTIONS) -> None:
        self.figures += 1
        if not equal(stated, derived):
            raise Mismatch(f"{self.release.rel(path)}: {key} is {shown(stated)}, {source} {shown(derived)}")


def equal(stated: object, derived: object) -> bool:
    """The stated figure is the derived one at the certificate's rounding (floats), or exactly (the rest)."""
    if isinstance(derived, float) and isinstance(stated, (int, float)) and not isinstance(stated, bool):
        return stated == round(derived, PLACES)
    return stated == derived and isinstance(stated, bool) == isinstance(derived, bool)


def shown(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(round(value, PLACES))
    return str(value)


def check_names(r: Release, d: Derived, t: Tally) -> None:
    """The certificate is about params' variants and seeds (the files sort them: compared as sets)."""
    details, metrics = r.layout.certificate_details, r.layout.certificate
    t.same(metrics, "variants", sorted(r.certificate.metrics.variants), sorted(r.params.variant_names),
           "params.yaml's variants are")
    for name, v in r.certificate.details.variants.items():
        t.same(details, f"variants.{name}.seeds", sorted(v.seeds), sorted(d.seeds), "params.yaml's seeds are")
    t.same(details, "probe.seeds", sorted(r.certificate.details.probe.seeds), sorted(d.seeds), "params.yaml's seeds are")


def check_plan(r: Release, d: Derived, t: Tally) -> None:
    """The plan file's hash, the certificate's copy of it, the looks read under it, and this read against it."""
    reading, path, details = r.certificate.details.plan, r.layout.certify_plan, r.layout.certificate_details
    t.same(path, "sha256", r.plan_stated_sha256, r.plan.sha256, "its terms hash to")
    t.same(details, "plan.sha256", reading.sha256, r.plan.sha256, f"{r.rel(path)}'s terms hash to")
    for name, value in dataclasses.asdict(r.plan).items():
        t.same(details, f"plan.declared.{name}", getattr(reading.declared, name), value, f"{r.rel(path)} says")
    t.same(details, "plan.looks", len(reading.looks), len(r.looks), f"looks, {r.rel(r.layout.certify_looks)} holds")
    for i, (stated, look) in enumerate(zip(reading.looks, r.looks)):
        for name, value in dataclasses.asdict(look).items():
            t.same(details, f"plan.looks.{i}.{name}", dataclasses.asdict(stated)[name], value,
                   f"{r.rel(r.layout.certify_looks)} says")
    t.same(details, "plan.exploratory", reading.exploratory, d.exploratory, "the plan, its looks and params give")
    if d.exploratory is None:
        this = next((look for look in r.looks if len(look.seeds) == len(d.seeds)), None)
        if this is None:
            raise Mismatch(f"{r.rel(r.layout.certify_looks)} has no look at {len(d.seeds)} seeds, yet the certificate "
                           "reads them as a look of the plan (certify records every look it reads)")
        for name, p in d.population.items():
            t.same(r.layout.certify_looks, f"the look at {len(d.seeds)} seeds: verdicts.{name}", this.verdicts.get(name),
                   str(p.verdict))
            t.same(r.layout.certify_looks, f"the look at {len(d.seeds)} seeds: error_spent.{name}",
                   this.error_spent.get(name), p.confidence_spent)


def check_seeds(r: Release, d: Derived, t: Tally) -> None:
    """Every variant's figures seed by seed: the status, accuracy, Δ, its CI, McNemar's p and standard error, and
    the size evaluate recorded."""
    path = r.layout.certificate_details
    for name, v in d.variants.items():
        for seed, f in v.seeds.items():
            stated, key = r.certificate.details.variants[name].seeds[seed], f"variants.{name}.seeds.{seed}"
            for field in ("status", "accuracy", "delta", "ci_low", "ci_high", "mcnemar_p", "se_delta"):
                t.same(path, f"{key}.{field}", getattr(stated, field), getattr(f, field))
            t.same(path, f"{key}.passed", stated.passed, f.status == PASS)
            record = r.adapters.get((seed, name))
            for field in ("trainable_parameters", "reduction_vs_probe"):
                t.same(path, f"{key}.{field}", getattr(stated, field), record and getattr(record.evaluation, field),
                       f"{r.rel(r.layout.eval_metrics(seed, name))} says")


def check_adapters(r: Release, d: Derived, t: Tally) -> None:
    """Each adapter judged, by content: the certificate's sha256, evaluate's and the run record's are the hash of
    the adapter files; the predictions are the file evaluate recorded, of that many correct."""
    path = r.layout.certificate_details
    for seed in d.seeds:
        for name in [PROBE, *d.variants]:
            a = r.adapters.get((seed, name))
            stated = (r.certificate.details.probe.seeds[seed] if name == PROBE
                      else r.certificate.details.variants[name].seeds[seed]).adapter_sha256
            key = f"probe.seeds.{seed}" if name == PROBE else f"variants.{name}.seeds.{seed}"
            files = f"the files in {r.rel(r.layout.adapter(seed, name))} hash to"
            t.same(path, f"{key}.adapter_sha256", stated, a and a.digest, files)
            if a is None:
                continue
            evaluated, run = r.layout.eval_metrics(seed, name), r.layout.run_record(seed, name)
            t.same(evaluated, "adapter_sha256", a.evaluation.adapter_sha256, a.digest, files)
            t.same(run, "adapter_sha256", a.run.adapter_sha256, a.digest, files)
            t.same(run, "adapter, seed", f"{a.run.adapter}, {a.run.seed}", f"{name}, {seed}", "its folder is")
            t.same(evaluated, "predictions_sha256", a.evaluation.predictions_sha256, a.predictions_sha256,
                   f"{r.rel(a.predictions)} hashes to")
            t.same(evaluated, "correct", a.evaluation.correct, int(a.correct.sum()), f"{r.rel(a.predictions)} gives")
            t.same(evaluated, "examples", a.evaluation.examples, int(a.correct.size), f"{r.rel(a.predictions)} gives")


def check_variants(r: Release, d: Derived, t: Tally) -> None:
    """The spec rule's verdict and figures per variant (metrics file and details)."""
    details = r.layout.certificate_details
    for name, v in d.variants.items():
        m, s, metrics = r.certificate.metrics.variants[name], r.certificate.details.variants[name], _file(r, name)
        t.same(metrics, "spec", m.spec, str(v.spec))
        t.same(metrics, "mean_delta", m.mean_delta, v.mean_delta)
        t.same(metrics, "worst_delta", m.worst_delta, v.worst_delta)
        for field in ("pass_rate", "std_delta", "non_inferior"):
            t.same(details, f"variants.{name}.{field}", getattr(s, field), getattr(v, field))
        sizes = [r.adapters[(seed, name)].evaluation for seed in d.seeds if (seed, name) in r.adapters]
        for field in ("reduction_vs_probe", "trainable_parameters"):
            mean = sum(getattr(e, field) for e in sizes) / len(sizes) if sizes else None
            t.same(details, f"variants.{name}.mean_{field}", getattr(s, f"mean_{field}"),
                   None if mean is None else float(mean), "evaluate's records give")


def check_population(r: Release, d: Derived, t: Tally) -> None:
    """The population verdict per variant: the verdict, its bound, and the deciding look's counts and boundaries."""
    details = r.layout.certificate_details
    for name, p in d.population.items():
        stated = r.certificate.details.variants[name].population
        t.same(_file(r, name), "population", r.certificate.metrics.variants[name].population, str(p.verdict))
        last = p.looks[-1]
        t.same(_file(r, name), "share_lower", r.certificate.metrics.variants[name].share_lower, p.lower)
        for field, value in (("seeds", p.seeds), ("looks_used", p.looks_used),
                             ("confidence_spent", p.confidence_spent), ("passed", last.passed),
                             ("safe_at", last.safe_at), ("unsafe_at", last.unsafe_at)):
            t.same(details, f"variants.{name}.population.{field}", getattr(stated, field), value)


def check_evidence(r: Release, d: Derived, t: Tally) -> None:
    """Stability (the share of joint bootstrap resamples in which the variant is SAFE) and the evidence figures."""
    details = r.layout.certificate_details
    for name, e in d.evidence.items():
        t.same(details, f"variants.{name}.stability", r.certificate.details.variants[name].stability, e.share_now)
        stated = r.certificate.details.variants[name].evidence
        for field in ("mean_delta_lower_95", "p_new_seed_passes", "seeds_for_stable_verdict", "stable_verdict"):
            value = getattr(e, field)
            t.same(details, f"variants.{name}.evidence.{field}", stated and getattr(stated, field),
                   str(value) if field == "stable_verdict" and value is not None else value)


def check_probe(r: Release, d: Derived, t: Tally) -> None:
    """The probe quality gate and each probe's accuracy."""
    path, probe = r.layout.certificate_details, r.certificate.details.probe
    t.same(path, "probe.gate_passed", probe.gate_passed, not d.undertrained)
    t.same(path, "probe.undertrained_seeds", probe.undertrained_seeds, len(d.undertrained))
    for seed, accuracy in d.probe_accuracy.items():
        t.same(path, f"probe.seeds.{seed}.accuracy", probe.seeds[seed].accuracy, accuracy)


def check_level(r: Release, d: Derived, t: Tally) -> None:
    """The validation level, from what the run records say ran, and params' certifiable thresholds."""
    t.same(r.layout.certificate, "level", r.certificate.metrics.level, str(d.level.name), "the run records give")
    t.same(r.layout.certificate_details, "level_reasons", r.certificate.details.level_reasons, d.level.reasons,
           "the run records give")


def check_policy(r: Release, d: Derived, t: Tally) -> None:
    """The policy's scope, criteria and claims against the derived verdicts."""
    path, policy = r.layout.certificate_details, r.certificate.details.policy
    t.same(path, "policy.in_scope", policy.in_scope, d.in_scope, "the policy and the probe's run record give")
    t.same(path, "policy.criteria_match", policy.criteria_match, not d.criteria, "the policy and params give")
    counts = Counter(c.outcome for c in d.claims)
    for field, outcome in (("claims_agree", Outcome.AGREES), ("claims_contradicted", Outcome.CONTRADICTS),
                           ("claims_unsettled", Outcome.UNSETTLED), ("claims_not_measured", Outcome.NOT_MEASURED)):
        t.same(path, f"policy.{field}", getattr(policy, field), counts[outcome], "the policy's claims give")


def check_frontier(r: Release, d: Derived, t: Tally) -> None:
    """The frontier's figures."""
    for field, value in dataclasses.asdict(d.frontier).items():
        t.same(r.layout.certificate_details, f"frontier.{field}", getattr(r.certificate.details.frontier, field), value)


def check_collapses(r: Release, d: Derived, t: Tally) -> None:
    """Each collapsed run (which adapter, which seed, why) and each adapter's collapse rate with its interval."""
    path, stated = r.layout.certificate_details, r.certificate.details.collapses
    t.same(path, "collapses.runs", [c.line() for c in stated.runs], [c.line() for c in _rounded(d.collapses)])
    t.same(path, "collapses.rates", sorted(stated.rates), sorted(d.collapse_rates))
    for name, rate in d.collapse_rates.items():
        for field in ("collapsed", "runs", "low", "high"):
            t.same(path, f"collapses.rates.{name}.{field}", getattr(stated.rates[name], field), getattr(rate, field))


def _rounded(found: list) -> list:
    return [dataclasses.replace(c, accuracy=round(c.accuracy, PLACES), chance=round(c.chance, PLACES),
                                reference=None if c.reference is None else round(c.reference, PLACES)) for c in found]


def check_reasons(r: Release, d: Derived, t: Tally) -> None:
    """Every reason the run is not certified (its kind, and a claim's variant and claim), and the flag."""
    stated = Counter((str(x.kind), x.variant, x.claim) for x in r.certificate.details.reasons)
    derived = Counter((str(kind), variant, claim) for kind, variant, claim in d.reasons)
    t.same(r.layout.certificate_details, "reasons", _listed(stated), _listed(derived), "the figures give")
    t.same(r.layout.certificate, "certified", r.certificate.metrics.certified, not d.reasons, "the figures give")


def _file(r: Release, name: str) -> Path:
    """A variant's own metrics file (metrics/variants/<variant>.json)."""
    return r.layout.variant_metrics / f"{name}.json"


def _listed(reasons: Counter) -> str:
    return "[" + "; ".join(" ".join(x for x in key if x) + (f" ×{n}" if n > 1 else "")
                           for key, n in sorted(reasons.items(), key=str)) + "]"


Section = Callable[[Release, Derived, Tally], None]
SECTIONS: list[Section] = [check_names, check_plan, check_seeds, check_adapters, check_variants, check_population,
                           check_evidence, check_probe, check_level, check_policy, check_frontier, check_collapses,
                           check_reasons]
