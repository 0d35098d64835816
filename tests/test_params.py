import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rankcert.errors import RankcertError
from rankcert.params import load_params, params_from_dict, parse_variant


def canonical():
    return yaml.safe_load(open("params.yaml"))


def test_canonical_params_are_the_spec():
    p = load_params("params.yaml")
    assert p.seeds == [42, 123, 456]
    assert (p.probe.rank, p.probe.alpha, p.probe.dropout) == (32, 32, 0.0)
    assert (p.train.steps, p.train.batch_size, p.train.lr, p.train.weight_decay) == (500, 8, 5e-5, 0.01)
    assert (p.data.train_size, p.data.eval_size, p.model.max_length) == (2000, 500, 128)
    assert p.compress.allowed_ranks == [2, 4, 8, 16, 20, 24, 32] and p.compress.energy_threshold == 0.9
    assert [(v.name, v.kind, v.rank) for v in p.variants] == [
        ("per_layer", "per_layer", None), ("uniform_r20", "uniform", 20), ("uniform_r24", "uniform", 24),
        ("uniform_r16", "uniform", 16)]
    assert (p.certify.tolerance, p.certify.min_pass_rate, p.certify.probe_min_accuracy) == (0.025, 0.67, 0.75)


def _set(raw, dotted, value):
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


DELETE = object()

BAD = [
    ("trian.steps", 5, "unknown key 'trian'; did you mean 'train'"),
    ("train.stpes", 5, "unknown key 'train.stpes'; did you mean 'steps'"),
    ("train.steps", "500", "train.steps must be an integer"),
    ("train.steps", 0, "train.steps must be > 0"),
    ("train.lr", "fast", "train.lr must be a number"),
    ("train.lr", True, "train.lr must be a number"),
    ("train.device", "tpu", "train.device must be auto, cpu, cuda or cuda:<index>"),
    ("probe.rank", 0, "probe.rank must be > 0"),
    ("compress.allowed_ranks", [4, 2, 8], "sorted and without duplicates"),
    ("compress.allowed_ranks", [2, 2, 8], "sorted and without duplicates"),
    ("compress.allowed_ranks", [2, 64], "go above probe.rank"),
    ("compress.allowed_ranks", [0, 2], "must be > 0"),
    ("compress.energy_threshold", 0.0, "energy_threshold must be in (0, 1]"),
    ("compress.energy_threshold", 1.5, "energy_threshold must be in (0, 1]"),
    ("seeds", [], "seeds must list at least one seed"),
    ("seeds", [1, 1], "seeds has duplicates"),
    ("seeds", "42", "seeds must be a list"),
    ("certify.tolerance", 0.0, "tolerance must be in (0, 1)"),
    ("certify.tolerance", 1.0, "tolerance must be in (0, 1)"),
    ("variants", ["small"], "'small' doesn't say what it is"),
    ("variants", ["uniform_r64"], "rank must be in 1..probe.rank"),
    ("variants", ["uniform_r0"], "rank must be in 1..probe.rank"),
    ("variants", ["per_layer", "per_layer"], "variants has duplicates"),
    ("data.train_size", 0, "must be > 0"),
    ("model.target_modules", [], "must name at least one module"),
    ("certify.certifiable", DELETE, "missing key 'certify.certifiable'"),
]


@pytest.mark.parametrize("key,value,message", BAD, ids=[b[0] + "=" + repr(b[1])[:12] for b in BAD])
def test_bad_params_get_one_clear_error(key, value, message):
    raw = canonical()
    _set(raw, key, value)
    with pytest.raises(RankcertError) as err:
        params_from_dict(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_yaml_1_1_exponent_text_is_read_as_a_number():
    raw = canonical()
    raw["train"]["lr"] = "5e-4"
    assert params_from_dict(raw).train.lr == 5e-4


def test_malformed_yaml_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(RankcertError, match="not valid YAML"):
        load_params(bad)
    with pytest.raises(RankcertError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_variant_names_say_what_they_are():
    assert parse_variant("uniform_r8").rank == 8
    for bad in ("uniform", "uniform_r", "r20", "perlayer", 20, None):
        with pytest.raises(RankcertError):
            parse_variant(bad)


leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True), st.text(max_size=6))
tree = st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                 st.dictionaries(st.text(max_size=8), kids, max_size=4)), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(tree)
def test_any_input_validates_or_raises_our_error(raw):
    try:
        params_from_dict(raw)
    except RankcertError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted([
    "train.steps", "train.lr", "probe.rank", "seeds", "variants", "compress.allowed_ranks",
    "compress.energy_threshold", "certify.tolerance", "data.eval_size", "model.target_modules"])), leaf | tree)
def test_mutating_one_canonical_key_validates_or_raises_our_error(key, value):
    raw = copy.deepcopy(canonical())
    _set(raw, key, value)
    try:
        params_from_dict(raw)
    except RankcertError:
        pass
