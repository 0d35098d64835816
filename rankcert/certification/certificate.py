"""The certificate certify writes, as typed records: the metrics a release compares, and the details beside them.

The DVC metrics (`dvc metrics show`, `dvc metrics diff`, `dvc exp show`) are small files, each a row of
`dvc metrics show` within a 160-column terminal: metrics/certify.json, the run's (certified, level, how many
variants are SAFE and how many verdicts the population verdict settles: what `dvc exp show` lists per
experiment), and metrics/variants/<variant>.json, one per variant with the same five keys (the spec and population
verdicts, mean and worst Δ, the lower bound on the share of runs that pass), so `dvc metrics diff` gives each
verdict flip a row of its own.
metrics/certify_details.json holds everything else certify computes (per seed figures and adapter hashes, the
probe gate, the policy check, the evidence and population readings, the frontier, the plan and the looks read
under it): an output, not a metrics file; its `reasons` are every reason certify found the run not certified,
each with its kind, as the report lists them. Every reader goes through read() or read_metrics(); no other module
knows the files' keys. The files are written and read through rankcert.config.codec, the records' one codec.
Standard library only: the pre-release gate's CI job has no torch, pandas or scipy.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path

from rankcert.certification.collapse import Collapse, CollapseRate
from rankcert.certification.plan import Reading
from rankcert.certification.words import LevelName, ReasonKind, Safety
from rankcert.config import codec
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT
from rankcert.runtime.outputs import Staged

FIX = "run certify again (`dvc repro certify`)"


@dataclass(frozen=True)
class RunMetrics:
    """metrics/certify.json: the run's verdict, and its variants' counted (Metrics.counts)."""
    certified: bool
    level: LevelName
    safe: int
    settled: int


@dataclass(frozen=True)
class VariantMetrics:
    """One variant as a release compares it: about five numbers."""
    spec: Safety  # SAFE or UNSAFE: the spec rule's verdict, about the runs that were made
    population: Safety  # the population verdict, about training runs on this eval set
    mean_delta: float | None  # Δ = acc(variant) − acc(probe), mean over the seeds measured
    worst_delta: float | None  # the lowest seed's Δ (None: no seed measured)
    share_lower: float | None  # γ lower confidence bound on the share of runs that pass, at the deciding look

    @property
    def observed(self) -> Safety | None:
        """The spec verdict, or None when no seed was measured (a claim about it is "not measured")."""
        return None if self.worst_delta is None else self.spec


@dataclass(frozen=True)
class Metrics:
    certified: bool
    level: LevelName
    variants: dict[str, VariantMetrics]

    def counts(self) -> dict[str, int]:
        """A run's verdicts in two columns of `dvc exp show`: how many variants the spec rule finds SAFE, and how
        many verdicts the population verdict settles (says the same)."""
        return _counts(self.variants.values())

    def run_record(self) -> RunMetrics:
        return RunMetrics(self.certified, self.level, **self.counts())

    @classmethod
    def from_json(cls, run: object, variants: dict[str, object], path: Path, at: str = "") -> Metrics:
        """The run's file (at `path`) and each variant's (name -> its data); `at`: " at REV" for a release's."""
        where, folder = f"{path}{at}", variants_folder(path)
        if isinstance(run, dict) and "variants" in run:  # a release certified before the one-file-per-variant split
            run, variants = _from_earlier_layout(run, where)
        said = codec.loaded(RunMetrics, run, where, "run's metrics file", FIX)
        found = cls(said.certified, said.level, {n: codec.loaded(VariantMetrics, v, f"{folder / n}.json{at}",
                                                                 "variant's metrics file", FIX)
                                                 for n, v in sorted(variants.items())})
        if {k: getattr(said, k) for k in found.counts()} != found.counts():
            raise RankcertError(f"{where} says {_pairs({k: getattr(said, k) for k in found.counts()})} but {folder}{at} "
                                f"holds {_pairs(found.counts())}: {FIX}")
        return found


@dataclass(frozen=True)
class SeedDetails:
    status: str  # PASS | FAIL | MISSING | UNDERTRAINED
    passed: bool
    accuracy: float | None
    delta: float | None
    ci_low: float | None  # paired bootstrap CI of Δ
    ci_high: float | None
    mcnemar_p: float | None
    se_delta: float | None  # standard error of Δ: the eval set's resolution
    adapter_sha256: str | None  # which adapter was judged
    trainable_parameters: int | None
    reduction_vs_probe: float | None


@dataclass(frozen=True)
class EvidenceDetails:
    mean_delta_lower_95: float | None  # over seeds and examples
    p_new_seed_passes: float | None
    seeds_for_stable_verdict: int | None
    stable_verdict: Safety | None


@dataclass(frozen=True)
class PopulationDetails:
    seeds: int
    looks_used: int
    confidence_spent: float
    passed: int  # passing seeds at the deciding look
    safe_at: int  # the deciding look's boundaries: SAFE at ≥ safe_at passing seeds, UNSAFE at ≤ unsafe_at
    unsafe_at: int


@dataclass(frozen=True)
class VariantDetails:
    pass_rate: float
    stability: float | None  # share of joint bootstrap resamples in which it is SAFE
    std_delta: float | None
    non_inferior: bool
    evidence: EvidenceDetails | None
    population: PopulationDetails
    mean_reduction_vs_probe: float | None
    mean_trainable_parameters: float | None
    seeds: dict[int, SeedDetails]

    def worst_seed(self) -> tuple[int, SeedDetails] | None:
        """(seed, its details) of the lowest measured Δ, or None when no seed was measured."""
        measured = [(seed, s) for seed, s in self.seeds.items() if s.delta is not None]
        return min(measured, key=lambda item: item[1].delta) if measured else None


@dataclass(frozen=True)
class ProbeSeed:
    accuracy: float | None
    adapter_sha256: str | None


@dataclass(frozen=True)
class ProbeDetails:
    gate_passed: bool
    undertrained_seeds: int
    seeds: dict[int, ProbeSeed]


@dataclass(frozen=True)
class PolicyDetails:
    in_scope: bool
    criteria_match: bool
    claims_agree: int
    claims_contradicted: int
    claims_unsettled: int
    claims_not_measured: int


@dataclass(frozen=True)
class FrontierSummary:
    smallest_safe_uniform_rank: int | None
    smallest_safe_parameters: float | None
    smallest_safe_variant: str | None
    safe_variants: int
    pareto_safe_variants: int
    truncation_largest_gap: float | None
    truncation_correlation: float | None


@dataclass(frozen=True)
class Reason:
    """One reason the run is not certified, as certify decided it (rankcert.certification.verdict.decide)."""
    kind: ReasonKind
    text: str  # the line the report and certify's output list
    variant: str | None  # the variant a policy claim is about (claim reasons only)
    claim: str | None  # the claim, e.g. "uniform_r20 is SAFE" (claim reasons only)

    @classmethod
    def about_run(cls, kind: ReasonKind, text: str) -> Reason:
        """A reason about the run, not about one claim."""
        return cls(kind, text, None, None)


@dataclass(frozen=True)
class Collapses:
    """Runs that fell to chance or far below their seed's other runs (rankcert.certification.collapse): each a failed
    run, named; and each adapter's collapse rate with its exact 95% interval."""
    runs: list[Collapse]
    rates: dict[str, CollapseRate]  # "probe" or a variant's name -> its rate over the runs measured


@dataclass(frozen=True)
class Details:
    level_reasons: list[str]  # why the level is what it is, from what the stages' records say ran
    reasons: list[Reason]  # why not certified (empty when certified): every reason, in the report's order
    probe: ProbeDetails
    policy: PolicyDetails
    variants: dict[str, VariantDetails]
    frontier: FrontierSummary
    plan: Reading  # the declared plan, its hash, the looks read under it, and why this read is exploratory if it is
    collapses: Collapses


@dataclass(frozen=True)
class Certificate:
    metrics: Metrics
    details: Details


def variants_folder(metrics: Path) -> Path:
    """The variants' metrics files, beside the run's (metrics/variants/ beside metrics/certify.json)."""
    return metrics.with_name(LAYOUT.variant_metrics.name)


def write(out: Staged, certificate: Certificate, metrics: Path, details: Path) -> None:
    """Stage every file (sorted keys: the same certificate is the same bytes); the variants' folder is replaced
    whole, so a variant no longer run leaves no file."""
    out.text(metrics, codec.text(certificate.metrics.run_record()))
    folder = out.folder(variants_folder(metrics))
    for name, variant in certificate.metrics.variants.items():
        (folder / f"{name}.json").write_text(codec.text(variant), encoding="utf-8")
    out.text(details, codec.text(certificate.details))


def read_metrics(path: Path) -> Metrics:
    """The run's metrics file and the variants' beside it."""
    run, folder = codec.read_json(path, FIX), variants_folder(path)
    if not folder.is_dir() and not (isinstance(run, dict) and "variants" in run):
        raise RankcertError(f"{folder} not found; {FIX}")
    return Metrics.from_json(run, {p.stem: codec.read_json(p, FIX) for p in sorted(folder.glob("*.json"))}, path)


def read(metrics: Path, details: Path) -> Certificate:
    """Every file, each checked against its record: a missing or hand-edited key is one line naming it."""
    found = Certificate(read_metrics(metrics), codec.read(details, Details, "certificate details", FIX))
    if set(found.details.variants) != set(found.metrics.variants):
        raise RankcertError(f"{details} and {metrics} name other variants: {FIX}")
    if found.metrics.certified == bool(found.details.reasons):
        raise RankcertError(f"{metrics} says certified {found.metrics.certified} but {details} lists "
                            f"{len(found.details.reasons)} reason(s) it is not: {FIX}")
    named = {r.variant for r in found.details.reasons if r.kind != ReasonKind.CLAIM_NOT_MEASURED}  # not run: no file
    if unknown := sorted(named - {None, *found.metrics.variants}):
        raise RankcertError(f"{details}: reasons name variants {unknown} that {metrics} lacks: {FIX}")
    return found


def parse_metrics(run: str, variants: dict[str, str], path: Path, rev: str) -> Metrics:
    """The metrics files' texts at a release (`git show REV:metrics/certify.json`): the run's, at `path`, and each
    variant's by name (none for a release certified before the split)."""
    at = f" at {rev}"
    return Metrics.from_json(codec.parse_json(run, f"{path}{at}", FIX),
                             {n: codec.parse_json(t, f"{variants_folder(path) / n}.json{at}", FIX)
                              for n, t in variants.items()}, path, at)


def _counts(variants: typing.Iterable[VariantMetrics]) -> dict[str, int]:
    """The run file's `safe` (the spec rule's SAFE variants) and `settled` (the population verdict says the same)."""
    variants = list(variants)
    return {"safe": sum(v.spec == Safety.SAFE for v in variants),
            "settled": sum(v.population == v.spec for v in variants)}


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _from_earlier_layout(data: dict, where: str) -> tuple[dict, dict]:
    """certify.json as rankcert wrote it before one file per variant (a release tagged then): every variant in it,
    either as `spec.<v>`, `population.<v>`, `variants.<v>.<figure>` or, before the metrics/details split, as
    `variants.<v>.status` beside its figures. Neither had the share's lower bound."""
    figures = data["variants"]
    if not isinstance(figures, dict) or not all(isinstance(v, dict) for v in figures.values()):
        raise RankcertError(f"{where}: variants must map each variant to its figures, not {type(figures).__name__}; "
                            f"{FIX}")
    if all("status" in v for v in figures.values()):
        spec = {n: v["status"] for n, v in figures.items()}
        population = {n: (v.get("population") or {}).get("verdict") for n, v in figures.items()}
    else:
        spec, population = data.get("spec") or {}, data.get("population") or {}
    found = {n: {"spec": spec.get(n), "population": population.get(n), "mean_delta": v.get("mean_delta"),
                 "worst_delta": v.get("worst_delta"), "share_lower": None} for n, v in figures.items()}
    made = _counts([VariantMetrics(**v) for v in found.values()])
    return {"certified": data.get("certified"), "level": data.get("level"), **made}, found
