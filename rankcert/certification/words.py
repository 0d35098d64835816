"""The certificate's words: verdicts, validation levels, a policy claim's outcome and why a run is not certified.

String enums: each member is its word, so JSON, CSV and f-strings write the same bytes as the plain string did.
Standard library only (the pre-release gate's CI job reads the certificate without torch, pandas or scipy).
"""
from __future__ import annotations

from enum import StrEnum


class Safety(StrEnum):
    """A variant's verdict: the spec rule's is SAFE or UNSAFE; the population verdict may also be UNSETTLED."""
    SAFE = "SAFE"
    UNSAFE = "UNSAFE"
    UNSETTLED = "UNSETTLED"


class LevelName(StrEnum):
    """The validation level: what the run can support (rankcert.certification.stats.validation_level)."""
    CERTIFIABLE = "certifiable"
    SCREENING_PLUS = "screening+"
    SCREENING = "screening"
    IMPORTED = "imported"


class Outcome(StrEnum):
    """A policy claim checked against a run (rankcert.certification.policy.check_claims)."""
    AGREES = "agrees"
    CONTRADICTS = "contradicts"
    UNSETTLED = "unsettled"  # the population verdict is UNSETTLED
    NOT_MEASURED = "not measured"


class ReasonKind(StrEnum):
    """The kind of a reason the run is not certified (rankcert.certification.verdict.decide)."""
    EXPLORATORY = "exploratory"  # the read departs from the declared plan (rankcert.certification.plan)
    LEVEL = "level"
    DISAGREEMENT = "disagreement"
    CLAIM_CONTRADICTED = "claim contradicted"
    CLAIM_UNSETTLED = "claim unsettled"
    CLAIM_NOT_MEASURED = "claim not measured"  # about a variant the run did not measure (params' variants lack it)
    CRITERIA = "criteria differ"
    OUT_OF_SCOPE = "out of scope"


class CollapseKind(StrEnum):
    """Why a training run counts as collapsed (rankcert.certification.collapse)."""
    AT_CHANCE = "at chance"
    FAR_BELOW_SEED = "far below its seed"
