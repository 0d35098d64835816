"""Variant kinds: each name reads as one kind, one variant has one name, and each kind makes its own plan."""
import math
import re
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rankcert.config import variants
from rankcert.config.variants import PerLayer, PlanInputs, Truncated, Uniform, parse_variant
from rankcert.runtime.errors import RankcertError

# name -> (kind, retrained, uniform rank, energy threshold with compress.energy_threshold 0.9, truncates, heatmap)
READS = {
    "per_layer": ("per_layer", True, None, 0.9, None, True),
    "per_layer_e95": ("per_layer", True, None, 0.95, None, True),
    "per_layer_e999": ("per_layer", True, None, 0.999, None, True),
    "per_layer_e1": ("per_layer", True, None, 0.1, None, True),
    "per_layer_e05": ("per_layer", True, None, 0.05, None, True),  # a leading zero is a decimal: 0.05, not 0.5
    "uniform_r8": ("uniform", True, 8, None, None, False),
    "uniform_r100": ("uniform", True, 100, None, None, False),  # a trailing zero is part of the number
    "truncated_uniform_r8": ("truncated", False, None, None, "uniform_r8", False),
    "truncated_per_layer": ("truncated", False, None, 0.9, "per_layer", False),
    "truncated_per_layer_e95": ("truncated", False, None, 0.95, "per_layer_e95", False),
}


@pytest.mark.parametrize("name", READS)
def test_a_name_says_what_the_variant_is(name):
    v = parse_variant(name)
    kind, retrained, rank, threshold, truncates, heatmap = READS[name]
    assert (v.name, str(v), v.kind, v.retrained, v.uniform_rank) == (name, name, kind, retrained, rank)
    assert v.energy_threshold(0.9) == threshold and v.needs_spectra == (threshold is not None)
    assert (v.truncates.name if v.truncates else None, v.in_heatmap) == (truncates, heatmap)
    assert parse_variant(name) == v and hash(parse_variant(name)) == hash(v)


# The name a spelling means; a variant has one name, so every other spelling of it is refused, naming this one.
MEANS = [
    ("per_layer_e100", "per_layer_e1"),  # energy 0.100 is 0.1
    ("per_layer_e90", "per_layer_e9"),
    ("per_layer_e950", "per_layer_e95"),
    ("truncated_per_layer_e50", "truncated_per_layer_e5"),
    ("uniform_r08", "uniform_r8"),
    ("uniform_r016", "uniform_r16"),
    ("truncated_uniform_r08", "truncated_uniform_r8"),
]


@pytest.mark.parametrize("written,meant", MEANS)
def test_another_spelling_of_a_variant_is_refused_naming_its_name(written, meant):
    with pytest.raises(RankcertError) as err:
        parse_variant(written)
    assert str(err.value) == f"variants: {written!r} means {meant}; write that (one name per variant)"
    assert parse_variant(meant).name == meant


REFUSED = [
    ("per_layer_e0", "has energy threshold 0"),
    ("per_layer_e00", "has energy threshold 0"),
    ("truncated_per_layer_e0", "has energy threshold 0"),
    ("per_layer_e1234567890123456", "at most 15 digits"),
    ("truncated_truncated_per_layer", "truncates a truncation"),
    ("per_layer_e", "doesn't say what it is"),
    ("per_layer_e9.5", "doesn't say what it is"),
    ("per_layer_e-9", "doesn't say what it is"),
    ("per_layer_e٩٥", "doesn't say what it is"),  # Arabic-Indic digits: `\d` would take them, int() would read 95
    ("uniform_r٨", "doesn't say what it is"),
    ("uniform_r", "doesn't say what it is"),
    ("uniform_r-8", "doesn't say what it is"),
    ("uniform_r+8", "doesn't say what it is"),
    ("uniform_r 8", "doesn't say what it is"),
    ("uniform_r8\n", "doesn't say what it is"),
    (" per_layer", "doesn't say what it is"),
    ("Uniform_r8", "doesn't say what it is"),
    ("PER_LAYER", "doesn't say what it is"),
    ("uniform", "doesn't say what it is"),
    ("r20", "doesn't say what it is"),
    ("perlayer", "doesn't say what it is"),
    ("truncated_", "doesn't say what it is"),
    ("truncated", "doesn't say what it is"),
    ("", "doesn't say what it is"),
    (20, "is not a variant name"),
    (None, "is not a variant name"),
    (["per_layer"], "is not a variant name"),
]


@pytest.mark.parametrize("written,message", REFUSED, ids=[repr(r[0]) for r in REFUSED])
def test_a_name_that_says_nothing_is_refused_in_one_line(written, message):
    with pytest.raises(RankcertError) as err:
        parse_variant(written)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_refusal_lists_every_kind_of_name():
    with pytest.raises(RankcertError) as err:
        parse_variant("small")
    assert str(err.value) == ("variants: 'small' doesn't say what it is; use per_layer, per_layer_e<digits> (e.g. "
                              "per_layer_e95), uniform_r<rank> (e.g. uniform_r16) or truncated_<one of those>")


NAME_LIKE = st.from_regex(r"(truncated_){0,2}(per_layer(_e[0-9]{1,4})?|uniform_r[0-9]{1,3})", fullmatch=True)


@given(NAME_LIKE | st.text(max_size=24))
def test_any_text_is_its_variants_one_name_or_one_refusal(written):
    try:
        variant = parse_variant(written)
    except RankcertError as err:
        assert "\n" not in str(err)
        return
    assert variant.name == written and parse_variant(variant.name) == variant


def test_a_rank_the_probe_does_not_have_is_a_problem_of_the_variant_and_of_its_truncation():
    assert Uniform(16).problem(32) is None and PerLayer().problem(32) is None
    assert Uniform(0).problem(32) == Uniform(64).problem(32) == "rank must be in 1..probe.rank (32)"
    assert Truncated(Uniform(64)).problem(32) == "rank must be in 1..probe.rank (32)"


def inputs(spectra, threshold=0.8, allowed=(1, 2, 3, 4), modules=("a", "b")) -> PlanInputs:
    return PlanInputs(list(modules), spectra, threshold, list(allowed), probe_rank=max(allowed))


def test_per_layer_plan_names_every_module_including_the_most_common_rank():
    modules = [f"layer.{i}.attention.{m}" for i in range(6) for m in ("q_lin", "k_lin", "v_lin", "out_lin")]
    found = {m: [1.0] + [0.0] * 31 for m in modules}  # energy rank 1 everywhere -> rank 2 everywhere
    found[modules[5]] = [1.0] * 32  # needs all 32
    plan = PerLayer().plan(inputs(found, 0.9, [2, 4, 8, 16, 20, 24, 32], modules))
    assert list(plan) == modules
    assert plan[modules[5]] == 32
    assert sum(r == 2 for r in plan.values()) == 23
    assert math.isclose(sum(plan.values()) / len(plan), (23 * 2 + 32) / 24)


def test_a_named_threshold_overrides_the_param_and_truncation_uses_its_base_plan():
    found = {"a": [3.0, 1.0, 1.0, 0.5], "b": [1.0, 0.0, 0.0, 0.0]}  # a: σ² 9, 1, 1, 0.25 of 11.25
    assert parse_variant("per_layer").plan(inputs(found)) == {"a": 1, "b": 1}
    assert parse_variant("per_layer_e95").plan(inputs(found)) == {"a": 3, "b": 1}
    assert parse_variant("truncated_per_layer_e95").plan(inputs(found)) == {"a": 3, "b": 1}
    assert parse_variant("truncated_uniform_r2").plan(inputs(None, modules=["a"])) == {"a": 2}


def test_uniform_plan_and_missing_spectra():
    assert Uniform(20).plan(inputs(None, 0.9, [2, 20])) == {"a": 20, "b": 20}
    with pytest.raises(RankcertError, match="lack modules"):
        PerLayer().plan(inputs({"a": [1.0]}, 0.9, [2]))
    with pytest.raises(RankcertError, match="per_layer_e95 needs the probe's spectra"):
        Truncated(PerLayer("95")).plan(inputs(None))


def test_a_kind_is_one_class_and_one_without_a_plan_is_refused_when_declared(monkeypatch):
    monkeypatch.setattr(variants, "KINDS", list(variants.KINDS))  # the kinds declared here go when the test ends

    @dataclass(frozen=True)
    class Diagonal(variants.Variant):
        """`diagonal_r<k>`: rank k on the first module, 1 elsewhere (a made-up kind)."""

        rank: int
        kind, grammar, retrained = "diagonal", "diagonal_r<rank>", True

        @classmethod
        def read(cls, name):
            match = re.fullmatch("diagonal_r([0-9]+)", name)
            return cls(int(match.group(1))) if match else None

        @property
        def name(self):
            return f"diagonal_r{self.rank}"

        def plan(self, inputs):
            return {m: self.rank if i == 0 else 1 for i, m in enumerate(inputs.modules)}

    assert parse_variant("diagonal_r4").plan(inputs(None)) == {"a": 4, "b": 1}
    assert parse_variant("truncated_diagonal_r4").truncates == Diagonal(4)
    with pytest.raises(RankcertError, match=r"truncated_<one of those> or diagonal_r<rank>$"):
        parse_variant("small")
    with pytest.raises(TypeError, match="variant kind Planless does not declare plan"):
        class Planless(variants.Variant):
            kind, grammar, retrained = "planless", "planless", True
            read = classmethod(lambda cls, name: None)
            name = property(lambda self: "planless")
    with pytest.raises(TypeError, match="variant kind Nameless does not declare grammar, read, name"):
        class Nameless(Uniform):
            kind = "nameless"
    assert [k.__name__ for k in variants.KINDS] == ["PerLayer", "Uniform", "Truncated", "Diagonal"]
