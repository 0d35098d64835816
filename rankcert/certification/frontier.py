"""The compression frontier: every variant's size against its Δ, the SAFE ones on the Pareto front, the smallest
SAFE variant, and how closely truncating the probe predicts retraining."""
from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from rankcert.certification.certificate import FrontierSummary
from rankcert.certification.verdict import Verdict
from rankcert.config.records import Evaluation

Key = tuple[int, str]


@dataclass(frozen=True)
class Point:
    variant: str
    kind: str  # its kind's label (rankcert.config.variants): per_layer | uniform | truncated
    parameters: float  # trainable parameters, mean over the seeds measured
    mean_delta: float
    worst_delta: float
    ci_low: float  # the lowest and highest per-seed CI bounds
    ci_high: float
    safe: bool
    stability: float | None
    pareto: bool = False  # SAFE and no other SAFE variant is smaller-or-equal and better-or-equal


@dataclass(frozen=True)
class TruncationGap:
    variant: str  # truncated_<retrained>
    retrained: str
    deltas: dict[int, tuple[float, float]]  # seed -> (Δ truncated, Δ retrained)

    @property
    def gaps(self) -> dict[int, float]:
        """seed -> Δ truncated − Δ retrained."""
        return {seed: cut - kept for seed, (cut, kept) in self.deltas.items()}

    @property
    def mean_gap(self) -> float:
        return statistics.fmean(self.gaps.values())


def points(verdict: Verdict, sizes: dict[Key, Evaluation]) -> list[Point]:
    """One point per variant measured on at least one seed, smallest first; SAFE Pareto points marked."""
    found = []
    for name, s in verdict.summaries.items():
        measured = [r for r in s.seeds if r.delta is not None and (r.seed, name) in sizes]
        if not measured:
            continue
        found.append(Point(
            variant=name, kind=verdict.variants[name].kind,
            parameters=statistics.fmean(sizes[(r.seed, name)].trainable_parameters for r in measured),
            mean_delta=s.mean_delta, worst_delta=s.worst_delta, ci_low=min(r.ci_low for r in measured),
            ci_high=max(r.ci_high for r in measured), safe=s.safe, stability=verdict.stability.get(name)))
    found.sort(key=lambda p: (p.parameters, p.variant))
    return [_mark_pareto(p, found) for p in found]


def _mark_pareto(point: Point, every: list[Point]) -> Point:
    if not point.safe:
        return point
    dominated = any(o.safe and o is not point and o.parameters <= point.parameters and o.mean_delta >= point.mean_delta
                    and (o.parameters < point.parameters or o.mean_delta > point.mean_delta) for o in every)
    return dataclasses.replace(point, pareto=not dominated)


def smallest_safe(found: list[Point]) -> Point | None:
    return next((p for p in found if p.safe), None)


def smallest_safe_uniform_rank(verdict: Verdict) -> int | None:
    """The smallest uniform rank that is SAFE."""
    ranks = [verdict.variants[n].uniform_rank for n, s in verdict.summaries.items() if s.safe]
    return min((r for r in ranks if r is not None), default=None)


def truncation_gaps(verdict: Verdict) -> list[TruncationGap]:
    """Each truncated variant's Δ beside the retrained variant with the same plan, seed by seed."""
    out = []
    for name, s in verdict.summaries.items():
        twin = verdict.variants[name].truncates
        if twin is None or twin.name not in verdict.summaries:
            continue
        retrained = {r.seed: r.delta for r in verdict.summaries[twin.name].seeds if r.delta is not None}
        deltas = {r.seed: (r.delta, retrained[r.seed]) for r in s.seeds if r.delta is not None and r.seed in retrained}
        if deltas:
            out.append(TruncationGap(name, twin.name, deltas))
    return out


def truncation_agreement(verdict: Verdict) -> tuple[float | None, float | None]:
    """(largest |Δ truncated − Δ retrained|, Pearson correlation of the two Δs) over every seed and pair."""
    pairs = [pair for gap in truncation_gaps(verdict) for pair in gap.deltas.values()]
    if not pairs:
        return None, None
    largest = max(abs(t - r) for t, r in pairs)
    truncated, retrained = zip(*pairs)
    if len(pairs) < 3 or len(set(truncated)) < 2 or len(set(retrained)) < 2:  # two points always correlate ±1
        return largest, None
    return largest, statistics.correlation(truncated, retrained)


def summary(verdict: Verdict, sizes: dict[Key, Evaluation]) -> FrontierSummary:
    """The frontier's figures for the certificate's details."""
    found = points(verdict, sizes)
    smallest = smallest_safe(found)
    largest_gap, correlation = truncation_agreement(verdict)
    return FrontierSummary(
        smallest_safe_uniform_rank=smallest_safe_uniform_rank(verdict),
        smallest_safe_parameters=None if smallest is None else round(smallest.parameters, 1),
        smallest_safe_variant=None if smallest is None else smallest.variant,
        safe_variants=sum(p.safe for p in found), pareto_safe_variants=sum(p.pareto for p in found),
        truncation_largest_gap=None if largest_gap is None else round(largest_gap, 6),
        truncation_correlation=None if correlation is None else round(correlation, 6))
