"""Variant kinds: what a variant's name says it is, and each kind's rank plan.

Every kind is one class here. It declares its name grammar (`grammar`, `read`), its rank plan (`plan`, from
the spectra maths), whether it is retrained or cut from the probe (`retrained`), its uniform rank if any
(`uniform_rank`) and where it appears:
- every variant is a point of the frontier; `kind` is its label there and in plan.json;
- `in_heatmap`: its plans are drawn on the rank-plan heatmap;
- `uniform_rank`: the policy's rank claims (primary, conservative, avoid) and the smallest SAFE uniform rank;
- `truncates`: the retrained variant whose plan it cuts the probe to (truncation vs retraining).
A kind without a grammar or a plan is refused when its class is declared. A variant's name is made from what
it is, so one variant has one name: a spelling that means another name is refused, naming it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from rankcert.config.ranks import energy_rank, round_up_rank
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.text import quoted

DIGITS = "[0-9]+"  # ASCII only: `\d` also matches other scripts' digits, which int() reads as the same number
MAX_ENERGY_DIGITS = 15  # a float64 keeps 15 significant decimal digits exactly


@dataclass(frozen=True)
class PlanInputs:
    """What a rank plan is made from."""

    modules: list[str]  # every target module, in model order
    spectra: dict[str, list[float]] | None  # module -> the probe's singular values; None when not read
    energy_threshold: float  # compress.energy_threshold
    allowed_ranks: list[int]  # compress.allowed_ranks
    probe_rank: int


KINDS: list[type[Variant]] = []  # every declared kind, in the order of declaration


@dataclass(frozen=True)
class Variant:
    """A compression variant. Subclasses are the kinds; each declares the attributes below."""

    kind: ClassVar[str]  # its label in plan.json and on the frontier
    grammar: ClassVar[str]  # how its names are spelled, as docs/pipeline.md and errors write it
    retrained: ClassVar[bool]  # True: trained from scratch with the probe's recipe; False: cut from the probe
    in_heatmap: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = [name for name in ("kind", "retrained") if not hasattr(cls, name)]
        declared += [name for name in ("grammar", "read", "name") if name not in vars(cls)]  # its own spelling
        if cls.plan is Variant.plan:
            declared.append("plan")
        if declared:
            raise TypeError(f"variant kind {cls.__name__} does not declare {', '.join(declared)}")
        KINDS.append(cls)

    @classmethod
    def read(cls, name: str) -> Variant | None:
        """The variant `name` spells, if it is this kind's name; None if it is not."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        raise NotImplementedError

    def plan(self, inputs: PlanInputs) -> dict[str, int]:
        """Module name -> rank, naming every target module."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name

    @property
    def uniform_rank(self) -> int | None:
        return None

    @property
    def truncates(self) -> Variant | None:
        return None

    @property
    def needs_spectra(self) -> bool:
        """Its plan is read from the probe's spectra."""
        return False

    def energy_threshold(self, default: float) -> float | None:
        """The energy threshold its plan reads the spectra at (`default`: compress.energy_threshold); None if none."""
        return None

    def problem(self, probe_rank: int) -> str | None:
        """What is wrong with it in a run whose probe has rank `probe_rank`; None if nothing."""
        return None

    @staticmethod
    def alpha(rank: int) -> float:
        """A variant's LoRA alpha at a module of rank `rank`: alpha = r, as in the probe (alpha/r = 1)."""
        return float(rank)


@dataclass(frozen=True)
class PerLayer(Variant):
    """`per_layer`: each module's rank from the probe's spectrum at compress.energy_threshold;
    `per_layer_e<digits>`: the same at energy 0.<digits>. Retrained."""

    energy_digits: str = ""  # per_layer_e95: "95", energy 0.95; "": compress.energy_threshold

    kind = "per_layer"
    grammar = "per_layer, per_layer_e<digits> (e.g. per_layer_e95)"
    retrained = True
    in_heatmap = True
    AT: ClassVar[re.Pattern] = re.compile(f"per_layer_e({DIGITS})")

    @classmethod
    def read(cls, name: str) -> PerLayer | None:
        if name == "per_layer":
            return cls()
        if not (match := cls.AT.fullmatch(name)):
            return None
        digits = match.group(1).rstrip("0")  # 0.950 is 0.95: one name, per_layer_e95
        if not digits:
            raise RankcertError(f"variants: {name!r} has energy threshold 0; e.g. per_layer_e95 means 0.95")
        if len(digits) > MAX_ENERGY_DIGITS:
            raise RankcertError(f"variants: {name!r}: an energy threshold has at most {MAX_ENERGY_DIGITS} digits "
                                "(a float holds no more: longer ones would be two names of one threshold)")
        return cls(digits)

    @property
    def name(self) -> str:
        return f"per_layer_e{self.energy_digits}" if self.energy_digits else "per_layer"

    @property
    def needs_spectra(self) -> bool:
        return True

    def energy_threshold(self, default: float) -> float:
        return float("0." + self.energy_digits) if self.energy_digits else default

    def plan(self, inputs: PlanInputs) -> dict[str, int]:
        """The smallest rank holding the threshold's share of each module's Σσ², rounded up to an allowed rank."""
        if inputs.spectra is None:
            raise RankcertError(f"variant {self.name} needs the probe's spectra")
        missing = [m for m in inputs.modules if m not in inputs.spectra]
        if missing:
            raise RankcertError(f"probe spectra lack modules {missing[:3]}; re-run the probe stage")
        at = self.energy_threshold(inputs.energy_threshold)
        return {m: round_up_rank(energy_rank(inputs.spectra[m], at), inputs.allowed_ranks, inputs.probe_rank)
                for m in inputs.modules}


@dataclass(frozen=True)
class Uniform(Variant):
    """`uniform_r<k>`: rank k at every module. Retrained."""

    rank: int

    kind = "uniform"
    grammar = "uniform_r<rank> (e.g. uniform_r16)"
    retrained = True
    PATTERN: ClassVar[re.Pattern] = re.compile(f"uniform_r({DIGITS})")

    @classmethod
    def read(cls, name: str) -> Uniform | None:
        match = cls.PATTERN.fullmatch(name)
        return cls(int(match.group(1))) if match else None

    @property
    def name(self) -> str:
        return f"uniform_r{self.rank}"

    @property
    def uniform_rank(self) -> int:
        return self.rank

    def plan(self, inputs: PlanInputs) -> dict[str, int]:
        return {m: self.rank for m in inputs.modules}

    def problem(self, probe_rank: int) -> str | None:
        return None if 0 < self.rank <= probe_rank else f"rank must be in 1..probe.rank ({probe_rank})"


@dataclass(frozen=True)
class Truncated(Variant):
    """`truncated_<retrained variant>`: not retrained; the probe's update cut by SVD to that variant's plan."""

    base: Variant  # the retrained variant whose plan it has

    kind = "truncated"
    grammar = "truncated_<one of those>"
    retrained = False
    PREFIX: ClassVar[str] = "truncated_"

    @classmethod
    def read(cls, name: str) -> Truncated | None:
        if not name.startswith(cls.PREFIX):
            return None
        base = read_variant(name.removeprefix(cls.PREFIX))
        if not base.retrained:
            raise RankcertError(f"variants: {name!r} truncates a truncation; use truncated_<retrained variant>")
        return cls(base)

    @property
    def name(self) -> str:
        return self.PREFIX + self.base.name

    @property
    def truncates(self) -> Variant:
        return self.base

    @property
    def needs_spectra(self) -> bool:
        return self.base.needs_spectra

    def energy_threshold(self, default: float) -> float | None:
        return self.base.energy_threshold(default)

    def plan(self, inputs: PlanInputs) -> dict[str, int]:
        return self.base.plan(inputs)

    def problem(self, probe_rank: int) -> str | None:
        return self.base.problem(probe_rank)


def parse_variant(written: object) -> Variant:
    """The variant a name in params.yaml (or certify.json) says; refuse a name that says nothing, or that
    spells a variant another name already names (per_layer_e950 is per_layer_e95)."""
    if not isinstance(written, str):
        raise RankcertError(f"variants: {quoted(written)} is not a variant name; {names_hint()}")
    variant = read_variant(written)
    if variant.name != written:
        raise RankcertError(f"variants: {written!r} means {variant.name}; write that (one name per variant)")
    return variant


def read_variant(name: str) -> Variant:
    """The variant `name` spells, its spelling not checked (parse_variant checks it)."""
    for kind in KINDS:
        if (variant := kind.read(name)) is not None:
            return variant
    raise RankcertError(f"variants: {quoted(name)} doesn't say what it is; {names_hint()}")


def names_hint() -> str:
    """The variant names there are, for an error."""
    grammars = [kind.grammar for kind in KINDS]
    return f"use {', '.join(grammars[:-1])} or {grammars[-1]}"
