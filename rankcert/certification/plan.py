"""The certification plan, declared before any result is read, and every look read against it (docs/plan.md).

The population verdict is sequential: read at seed counts declared in advance (certify.population.looks), its error
split over them, so a false SAFE stays within 1 − confidence only if the plan is followed as declared. Reordered or
replaced seeds, looks chosen after seeing the data, or reads between looks would each make its bound a fiction. So
certify's first read fixes the plan: share, tolerance, confidence, looks, spending, and the seed sequence the looks
read in order (params' seeds, then settle.next_seed, next_seed + 1, ... up to the last look). It is a tracked file
(the layout's certify_plan) and its sha256 goes into the certificate; each look read is appended to another
(certify_looks). A read that departs from the plan is exploratory: never certified, one line saying why. Standard
library only (the certificate's records use these).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from rankcert.config import codec
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.outputs import Staged, to_json

DOC = "docs/plan.md"  # where a user reads how the plan binds and how to start a new one
FIX = f"restore it from git ({DOC})"


@dataclass(frozen=True)
class Plan:
    """What the looks are read under; the population section's values are opaque here (population.py reads them)."""

    share: float
    tolerance: float
    confidence: float
    looks: list[int]  # the seed counts certify is read at
    spending: str
    seeds: list[int]  # the declared sequence, in the order the looks read it, as long as the last look

    @property
    def sha256(self) -> str:
        """The hash of the canonical encoding: compact JSON, sorted keys."""
        canonical = json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def changes(self, other: Plan) -> list[str]:
        """Each term `other` states differently, as 'name old → new' (the seed sequence aside: seeds_departure)."""
        return [f"{f.name} {_value(getattr(self, f.name))} → {_value(getattr(other, f.name))}"
                for f in dataclasses.fields(self) if f.name != "seeds" and getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class Look:
    """One look read under the plan."""

    seeds: list[int]  # the seeds read, in order: the first len(seeds) of the declared sequence
    verdicts: dict[str, str]  # variant -> its population verdict at this look
    error_spent: dict[str, float]  # variant -> the false-SAFE error spent through the looks its verdict used
    plan_sha256: str


@dataclass(frozen=True)
class Reading:
    """This read against the plan, as the certificate's details record it."""

    declared: Plan
    sha256: str  # the declared plan's
    exploratory: str | None  # why this read is not a look of the plan; None when it is one
    looks: list[Look]  # every look read under the plan, in the order they were read (this one included)


def from_params(params) -> Plan:
    """The plan params state now (a rankcert.config.params.Params)."""
    c = params.certify
    looks = list(c.population.looks)
    return Plan(c.population.share, c.tolerance, c.confidence, looks, c.population.spending,
                params.settle_sequence(looks[-1]))


def read(declared: Plan, earlier: list[Look], stated: Plan, this: Look) -> Reading:
    """This read (`this`, under `stated`, the plan params state) against the `declared` plan and the looks read
    before it: a look is recorded once; a read that departs from the plan is exploratory and recorded nowhere."""
    why = departure(declared, earlier, stated, this)
    again = any(len(look.seeds) == len(this.seeds) for look in earlier)
    looks = earlier if why or again else [*earlier, this]
    return Reading(declared, declared.sha256, why, looks)


def departure(declared: Plan, earlier: list[Look], stated: Plan, this: Look) -> str | None:
    """Why reading `this` is not a look of the declared plan (the first reason found), or None."""
    other = sorted({look.plan_sha256 for look in earlier} - {declared.sha256})
    if other:
        return (f"the looks read so far were under plan {other[0][:12]}, the plan file declares {declared.sha256[:12]}: "
                "it was replaced after they were read")
    changed = declared.changes(stated)
    if changed:
        return (f"the plan changed after {'look(s) were read' if earlier else 'the first read declared it'}: "
                + "; ".join(changed))
    why = seeds_departure(declared, this.seeds)
    if why:
        return why
    n = len(this.seeds)
    if n not in declared.looks:
        return (f"{n} seed{'s' if n != 1 else ''} is not a declared look ({_value(declared.looks)}); certify is read "
                "at looks only")
    for look in earlier:
        if len(look.seeds) == n and look.verdicts != this.verdicts:
            return (f"the look at {n} seeds was read before with other verdicts ({_differences(look, this)}); "
                    "a look is read once")
    return None


def seeds_departure(declared: Plan, seeds: list[int]) -> str | None:
    """Why `seeds` are not the first len(seeds) of the declared sequence (the first offending position), or None."""
    for i, seed in enumerate(seeds):
        if i >= len(declared.seeds):
            return f"seed {i + 1} ({seed}) goes beyond the declared sequence of {len(declared.seeds)} seeds"
        if seed != declared.seeds[i]:
            return (f"seed {i + 1} of {len(seeds)} is {seed} where the declared sequence has {declared.seeds[i]}: "
                    f"the looks read the seeds in the declared order ({_shown(declared.seeds)})")
    return None


def write(out: Staged, reading: Reading, plan_path: Path, looks_path: Path) -> None:
    """Stage both files: the plan (the same bytes after the first read) and the looks read under it."""
    out.text(plan_path, plan_text(reading.declared))
    out.text(looks_path, looks_text(reading.looks))


def plan_text(plan: Plan) -> str:
    """The plan file: its terms, written out, and their hash (sorted keys: the same plan is the same bytes)."""
    return to_json({**codec.dump(plan), "sha256": plan.sha256})


def looks_text(looks: list[Look]) -> str:
    """The looks file: every look read, in the order read."""
    return codec.text(looks)


def read_plan(path: Path) -> Plan | None:
    """The declared plan, or None before the first read; a file whose hash is not its terms' is refused."""
    if not path.is_file():
        return None
    data = codec.read_json(path, FIX)
    terms = {k: v for k, v in data.items() if k != "sha256"} if isinstance(data, dict) else data
    plan = codec.loaded(Plan, terms, str(path), "plan file", FIX)
    if data.get("sha256") != plan.sha256:
        raise RankcertError(f"{path} was edited by hand: its sha256 is not its terms'; restore it (`git checkout -- "
                            f"{path}`) or start a new plan ({DOC})")
    return plan


def read_looks(path: Path) -> list[Look]:
    """Every look read so far (none before the first)."""
    if not path.is_file():
        return []
    looks = codec.read(path, list[Look], "looks file", FIX)
    for i, look in enumerate(looks):
        if set(look.error_spent) != set(look.verdicts):
            raise RankcertError(f"{path}: look {i + 1} spends error on other variants than it has verdicts for; {FIX}")
    return looks


def _differences(before: Look, now: Look) -> str:
    names = sorted(set(before.verdicts) | set(now.verdicts))
    return ", ".join(f"{n} {before.verdicts.get(n, 'not read')} → {now.verdicts.get(n, 'not read')}"
                     for n in names if before.verdicts.get(n) != now.verdicts.get(n))


def _shown(seeds: list[int], head: int = 6) -> str:
    return ", ".join(map(str, seeds[:head])) + (f", ... ({len(seeds)} in all)" if len(seeds) > head else "")


def _value(value: object) -> str:
    return str(value) if not isinstance(value, float) else f"{value:g}"
