"""The compression policy: load and validate policies/*.yaml, write one (`make policy`), and check its claims
against a run. Read and written through rankcert.config.codec."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rankcert.certification.stats import EPS
from rankcert.certification.words import Outcome, Safety
from rankcert.config import codec
from rankcert.config.variants import Uniform, Variant, names_hint, parse_variant
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.yamlfile import read_yaml

SCHEMA_VERSION = 1
STATUSES = (Safety.SAFE, Safety.UNSAFE)  # what a claim may expect


@dataclass(frozen=True)
class Scope:
    model_family: str
    task: str


@dataclass(frozen=True)
class Criteria:
    tolerance: float
    min_pass_rate: float


@dataclass(frozen=True)
class Claims:
    expected: dict[str, str]
    primary_uniform_rank: int
    conservative_uniform_rank: int
    avoid_ranks: list[int]
    unsettled: dict[str, str] = field(default_factory=dict)  # variant -> why its claim may not hold (evidence)


@dataclass(frozen=True)
class Policy:
    version: int
    name: str
    scope: Scope
    criteria: Criteria
    claims: Claims
    provenance: dict[str, str] = field(default_factory=dict)  # where an exported policy's evidence came from

    def expectations(self) -> list[tuple[str, str, Safety]]:
        """(claim, variant, expected status) for every claim the policy makes."""
        c = self.claims
        rows = [(f"{variant} is {status}", variant, Safety(status)) for variant, status in c.expected.items()]
        rows.append((f"primary uniform rank {c.primary_uniform_rank} is SAFE",
                     Uniform(c.primary_uniform_rank).name, Safety.SAFE))
        rows.append((f"conservative uniform rank {c.conservative_uniform_rank} is SAFE",
                     Uniform(c.conservative_uniform_rank).name, Safety.SAFE))
        rows += [(f"rank {r} is to be avoided (UNSAFE)", Uniform(r).name, Safety.UNSAFE) for r in c.avoid_ranks]
        return rows


@dataclass(frozen=True)
class ClaimCheck:
    claim: str
    variant: str
    expected: Safety
    observed: Safety | None  # the spec rule's verdict
    population: Safety | None  # the population verdict
    outcome: Outcome


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; every claim must be about a variant name some kind defines. A claim about
    a variant the run does not measure is no error: certify calls it not measured (the run is not certified)."""
    path = Path(path)
    raw = read_yaml(path, "policy", "set certify.policy in params.yaml")
    try:
        policy = codec.load(Policy, raw)
    except RankcertError as err:
        raise RankcertError(f"policy {path}: {err}") from err
    _validate(policy, path)
    return policy


def policy_yaml(policy: Policy) -> str:
    """The policy file's YAML, keys in the records' order (the way policies/*.yaml read); an empty
    claims.unsettled is left out."""
    return yaml.safe_dump(codec.dump(policy), sort_keys=False, allow_unicode=True)


def _validate(policy: Policy, path: Path) -> None:
    if policy.version != SCHEMA_VERSION:
        raise RankcertError(f"policy {path}: version {policy.version} is not supported (expected {SCHEMA_VERSION})")
    for variant, status in policy.claims.expected.items():
        if status not in STATUSES:
            raise RankcertError(f"policy {path}: claims.expected.{variant} must be SAFE or UNSAFE, not {status!r}")
    for variant in policy.claims.unsettled:
        if variant not in policy.claims.expected:
            raise RankcertError(f"policy {path}: claims.unsettled.{variant} is about no claims.expected variant")
    for claim, variant, _ in policy.expectations():
        try:
            parse_variant(variant)
        except RankcertError:
            raise RankcertError(f"policy {path}: claim '{claim}' is about {variant!r}, which no variant kind defines; "
                                f"{names_hint()}") from None
    for claim, variant, status in policy.expectations():
        other = policy.claims.expected.get(variant)
        if other is not None and other != status:
            raise RankcertError(f"policy {path}: claim '{claim}' conflicts with claims.expected.{variant}: {other}")


def criteria_differences(policy: Policy, tolerance: float, min_pass_rate: float) -> list[str]:
    """Where the run's rule differs from the rule the policy's claims were made under."""
    out = []
    if abs(policy.criteria.tolerance - tolerance) > EPS:
        out.append(f"tolerance: policy {policy.criteria.tolerance}, params {tolerance}")
    if abs(policy.criteria.min_pass_rate - min_pass_rate) > EPS:
        out.append(f"min_pass_rate: policy {policy.criteria.min_pass_rate}, params {min_pass_rate}")
    return out


def check_claims(policy: Policy, observed: dict[str, Safety | None], population: dict[str, Safety]) -> list[ClaimCheck]:
    """Each claim, about the population of training runs, against the population verdict: it agrees when that says
    what the claim says, is contradicted when it says the opposite, and is unsettled while it is UNSETTLED. The spec
    rule's observed SAFE/UNSAFE (about the runs made) stands beside it, decides nothing: its worst-seed condition
    fails with any one failed run, however many pass. A variant with no measured seed (None) is not measured."""
    checks = []
    for claim, variant, expected in policy.expectations():
        status = observed.get(variant)
        if status is None:
            checks.append(ClaimCheck(claim, variant, expected, None, None, Outcome.NOT_MEASURED))
            continue
        seen = population.get(variant)
        outcome = (Outcome.UNSETTLED if seen == Safety.UNSETTLED else
                   Outcome.AGREES if seen == expected else Outcome.CONTRADICTS)
        checks.append(ClaimCheck(claim, variant, expected, status, seen, outcome))
    return checks


@dataclass(frozen=True)
class Observed:
    """A variant's verdict in a certifiable run, and whether the population verdict settles it."""

    status: Safety  # the spec rule's verdict: SAFE or UNSAFE
    settled: bool  # the population verdict (rankcert.certification.population) says the same
    advice: str  # how settled, and what would settle it


def claims_from(observed: dict[Variant, Observed]) -> Claims:
    """The claims a certifiable run supports, from each variant's observed SAFE/UNSAFE.

    primary = the smallest measured uniform rank whose SAFE the population verdict settles, with every larger
    measured uniform rank SAFE; conservative = the next larger such rank (the primary itself when none is larger); avoid = the
    measured uniform ranks that are UNSAFE. Claims whose verdict is not settled say so under `unsettled`.
    """
    uniform = sorted((v.uniform_rank, o) for v, o in observed.items() if v.uniform_rank is not None)
    safe_from_top = []
    for rank, seen in reversed(uniform):
        if seen.status != Safety.SAFE:
            break
        safe_from_top.append((rank, seen))
    settled = sorted(rank for rank, seen in safe_from_top if seen.settled)
    if not settled:
        why = "; ".join(f"{Uniform(rank).name} {seen.advice}" for rank, seen in reversed(safe_from_top))
        raise RankcertError("the run supports no primary_uniform_rank: no uniform rank is SAFE with its verdict "
                            "settled and every larger measured one SAFE"
                            + (f" ({why})" if why else f"; measure more uniform ranks: {Uniform.grammar}"))
    primary = settled[0]
    return Claims(expected={v.name: o.status for v, o in observed.items()}, primary_uniform_rank=primary,
                  conservative_uniform_rank=settled[1] if len(settled) > 1 else primary,
                  avoid_ranks=[r for r, o in uniform if o.status == Safety.UNSAFE],
                  unsettled={v.name: o.advice for v, o in observed.items() if not o.settled})
