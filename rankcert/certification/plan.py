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

from rankcert.runtime.errors import RankcertError
from rankcert.runtime.outputs import Staged

DOC = "docs/plan.md"  # where a user reads how the plan binds and how to start a new one


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
    return json.dumps({**dataclasses.asdict(plan), "sha256": plan.sha256}, indent=2, sort_keys=True) + "\n"


def looks_text(looks: list[Look]) -> str:
    """The looks file: every look read, in the order read."""
    return json.dumps([dataclasses.asdict(look) for look in looks], indent=2, sort_keys=True) + "\n"


def read_plan(path: Path) -> Plan | None:
    """The declared plan, or None before the first read; a file whose hash is not its terms' is refused."""
    if not path.is_file():
        return None
    data = _mapping(_json(path), str(path), {*_names(Plan), "sha256"})
    plan = Plan(_number(data["share"], f"{path}: share"), _number(data["tolerance"], f"{path}: tolerance"),
                _number(data["confidence"], f"{path}: confidence"), _ints(data["looks"], f"{path}: looks"),
                _typed(data["spending"], str, f"{path}: spending"), _ints(data["seeds"], f"{path}: seeds"))
    if data["sha256"] != plan.sha256:
        raise RankcertError(f"{path} was edited by hand: its sha256 is not its terms'; restore it (`git checkout -- "
                            f"{path}`) or start a new plan ({DOC})")
    return plan


def read_looks(path: Path) -> list[Look]:
    """Every look read so far (none before the first)."""
    if not path.is_file():
        return []
    found = _json(path)
    if not isinstance(found, list):
        raise RankcertError(f"{path} is {type(found).__name__}, expected a list of looks; restore it from git ({DOC})")
    return [_look(item, f"{path}: look {i + 1}") for i, item in enumerate(found)]


def _look(item: object, where: str) -> Look:
    data = _mapping(item, where, set(_names(Look)))
    verdicts = _mapping(data["verdicts"], f"{where}: verdicts")
    spent = _mapping(data["error_spent"], f"{where}: error_spent", set(verdicts))
    return Look(_ints(data["seeds"], f"{where}: seeds"),
                {str(k): _typed(v, str, f"{where}: verdicts: {k}") for k, v in verdicts.items()},
                {str(k): _number(v, f"{where}: error_spent: {k}") for k, v in spent.items()},
                _typed(data["plan_sha256"], str, f"{where}: plan_sha256"))


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RankcertError(f"{path} is not JSON ({err}); restore it from git ({DOC})") from err


def _names(record: type) -> list[str]:
    return [f.name for f in dataclasses.fields(record)]


def _mapping(value: object, where: str, keys: set[str] | None = None) -> dict:
    if not isinstance(value, dict):
        raise RankcertError(f"{where} is {type(value).__name__}, expected an object; restore it from git ({DOC})")
    if keys is not None and set(value) != keys:
        raise RankcertError(f"{where} has keys {sorted(value)}, expected {sorted(keys)}; restore it from git ({DOC})")
    return value


def _typed(value: object, kind: type, where: str):
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RankcertError(f"{where} is {value!r}, expected {kind.__name__}; restore it from git ({DOC})")
    return value


def _number(value: object, where: str) -> float:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else _typed(value, float, where)


def _ints(value: object, where: str) -> list[int]:
    if not isinstance(value, list):
        raise RankcertError(f"{where} is {value!r}, expected a list; restore it from git ({DOC})")
    return [_typed(v, int, f"{where}[{i}]") for i, v in enumerate(value)]


def _differences(before: Look, now: Look) -> str:
    names = sorted(set(before.verdicts) | set(now.verdicts))
    return ", ".join(f"{n} {before.verdicts.get(n, 'not read')} → {now.verdicts.get(n, 'not read')}"
                     for n in names if before.verdicts.get(n) != now.verdicts.get(n))


def _shown(seeds: list[int], head: int = 6) -> str:
    return ", ".join(map(str, seeds[:head])) + (f", ... ({len(seeds)} in all)" if len(seeds) > head else "")


def _value(value: object) -> str:
    return str(value) if not isinstance(value, float) else f"{value:g}"
