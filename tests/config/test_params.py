import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rankcert.config.params import load_params, params_from_dict
from rankcert.runtime.errors import RankcertError


def canonical():
    return yaml.safe_load(open("params.yaml"))


def test_canonical_params_are_the_spec():
    p = load_params("params.yaml")
    assert p.seeds == [42, 123, 456]
    assert (p.probe.rank, p.probe.alpha, p.probe.dropout) == (32, 32, 0.0)
    assert (p.train.steps, p.train.batch_size, p.train.lr, p.train.weight_decay) == (500, 8, 5e-5, 0.01)
    assert (p.data.train_size, p.data.eval_size, p.model.max_length) == (2000, 500, 128)
    assert p.compress.allowed_ranks == [2, 4, 8, 16, 20, 24, 32] and p.compress.energy_threshold == 0.9
    assert [(v.name, v.kind, v.uniform_rank) for v in p.variants] == [
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
    ("runtime.device", "tpu", "runtime.device must be auto, cpu, cuda or cuda:<index>"),
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
    ("variants", ["truncated_uniform_r64"], "rank must be in 1..probe.rank"),
    ("variants", ["truncated_truncated_per_layer"], "truncates a truncation"),
    ("variants", ["per_layer_e00"], "energy threshold 0"),
    ("variants", ["per_layer_e9x"], "doesn't say what it is"),
    # boundary spellings: one name per thing (rankcert.config.variants has the variant names' own)
    ("variants", ["per_layer_e100"], "variants: 'per_layer_e100' means per_layer_e1; write that"),
    ("variants", ["per_layer_e9", "per_layer_e90"], "'per_layer_e90' means per_layer_e9"),
    ("variants", ["uniform_r08"], "'uniform_r08' means uniform_r8"),
    ("runtime.device", "cuda:01", "runtime.device 'cuda:01' means cuda:1; write that"),
    ("runtime.device", "cuda:00", "runtime.device 'cuda:00' means cuda:0"),
    ("runtime.device", "cuda:", "runtime.device must be auto, cpu, cuda or cuda:<index>, not 'cuda:'"),
    ("runtime.device", "cuda:-1", "runtime.device must be auto"),
    ("runtime.device", "cuda:1 ", "runtime.device must be auto"),
    ("runtime.device", " cpu", "runtime.device must be auto"),
    ("runtime.device", "CUDA", "runtime.device must be auto"),
    ("runtime.device", "cuda1", "runtime.device must be auto"),
    ("runtime.device", "cuda:١", "runtime.device must be auto"),  # an Arabic-Indic 1: int() would read it
    ("runtime.device", 0, "runtime.device must be a non-empty string"),
    ("data.eval_size", "ALL", "data.eval_size must be an integer or all, not 'ALL'"),
    ("data.eval_size", True, "data.eval_size must be an integer or all, not True"),
    ("data.eval_size", 0, "data.eval_size must be > 0"),
    ("train.precision", "FP32", "train.precision must be fp32 or bf16, not 'FP32'"),
    ("train.lr", "nan", "train.lr must be a finite number, not 'nan'"),
    ("train.lr", "-inf", "train.lr must be a finite number"),
    ("train.lr", "", "train.lr must be a number, not ''"),
    ("train.lr", "0x10", "train.lr must be a number"),
    ("train.lr", " 5e-4", "train.lr must be a number, not ' 5e-4'"),
    ("train.lr", "1_000", "train.lr must be a number"),  # float() reads 1000.0
    ("train.lr", "\u0661", "train.lr must be a number"),  # float() reads an Arabic-Indic 1 as 1.0
    ("train.lr", "5e", "train.lr must be a number"),
    ("inputs", {"my data": "x"}, "inputs keys name stages and files"),
    ("inputs", {"däta": "x"}, "inputs keys name stages and files"),
    ("data.train_size", 0, "must be > 0"),
    ("model.target_modules", [], "must name at least one module"),
    ("certify.certifiable", DELETE, "missing key 'certify.certifiable'"),
    ("probe.adapter", 3, "probe.adapter must be a non-empty string or null, not 3"),
    ("probe.adapter", "", "probe.adapter must be a non-empty string or null"),
    ("probe.adapter", "../adapter", "seeds lists 3 seeds but probe.adapter imports one adapter: list one seed"),
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


@pytest.mark.parametrize("key,value,read", [
    ("runtime.device", "auto", "auto"), ("runtime.device", "cpu", "cpu"), ("runtime.device", "cuda", "cuda"),
    ("runtime.device", "cuda:0", "cuda:0"), ("runtime.device", "cuda:10", "cuda:10"),
    ("data.eval_size", "all", "all"), ("data.eval_size", 1, 1),
    ("train.precision", "bf16", "bf16"), ("train.lr", 1, 1.0), ("train.lr", "5e-4", 5e-4),
    ("train.lr", "+.5E-3", 5e-4), ("train.lr", "5.", 5.0),
    ("inputs", {"my-data_2": "x"}, {"my-data_2": "x"}),
])
def test_the_boundary_spellings_that_are_read(key, value, read):
    raw = canonical()
    _set(raw, key, value)
    section, _, field = key.partition(".")
    found = getattr(params_from_dict(raw), section)
    assert (getattr(found, field) if field else found) == read


leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True), st.text(max_size=6))
tree = st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                 st.dictionaries(st.text(max_size=8), kids, max_size=4)), max_leaves=12)


@settings(max_examples=200)
@given(tree)
def test_any_input_validates_or_raises_our_error(raw):
    try:
        params_from_dict(raw)
    except RankcertError:
        pass


@settings(max_examples=200)
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


def test_yaml_is_read_as_dvc_reads_it(tmp_path):
    """YAML 1.2: 010 is ten (YAML 1.1 reads eight), exactly as DVC's own parser gives it."""
    from dvc.utils.serialize import parse_yaml as dvc_parse

    from rankcert.runtime.yamlfile import parse_yaml

    text = "seeds: [010, 123]\nflag: yes\nlr: 5e-5\n"
    assert parse_yaml(text, "t") == dvc_parse(text, "t") == {"seeds": [10, 123], "flag": "yes", "lr": 5e-5}


@pytest.mark.parametrize("text,message", [
    ("a: 1\na: 2\n", "not valid YAML"),
    ("a: &x [1]\n" + "".join(f"b{i}: *x\n" for i in range(100)), "uses 100 aliases; at most 64"),
    ("a: [1\n", "not valid YAML"),
])
def test_yaml_that_dvc_refuses_or_that_explodes_is_one_line(tmp_path, text, message):
    from rankcert.runtime.yamlfile import read_yaml

    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(RankcertError, match=message) as err:
        read_yaml(tmp_path / "p.yaml", "params file", "hint")
    assert "\n" not in str(err.value)


def test_unreadable_params_files_are_one_line(tmp_path):
    from rankcert.runtime.yamlfile import read_yaml

    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RankcertError, match="is not UTF-8 text"):
        read_yaml(tmp_path / "latin1.yaml", "params file", "hint")
    with pytest.raises(RankcertError, match="is a folder"):
        read_yaml(tmp_path, "params file", "hint")


def test_huge_values_are_quoted_short():
    raw = canonical()
    raw["train"]["steps"] = "x" * 100_000
    with pytest.raises(RankcertError) as err:
        params_from_dict(raw)
    assert len(str(err.value)) < 200 and "100,002 characters" in str(err.value)


def test_seeds_beyond_32_bits_are_refused_up_front():
    raw = canonical()
    raw["seeds"] = [42, 2**32]
    with pytest.raises(RankcertError, match="seeds must be in 0..4294967295"):
        params_from_dict(raw)


@given(st.dictionaries(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8),
                       st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                                 st.text(max_size=20), st.lists(st.integers(), max_size=4)), max_size=6))
def test_property_anything_dvc_reads_we_read_to_the_same_values(data):
    import io

    from dvc.utils.serialize import parse_yaml as dvc_parse
    from ruamel.yaml import YAML

    from rankcert.runtime.yamlfile import parse_yaml

    stream = io.StringIO()
    YAML(typ="safe").dump(data, stream)
    assert parse_yaml(stream.getvalue(), "t") == dvc_parse(stream.getvalue(), "t")


def test_eval_size_all_takes_the_whole_split_and_other_words_are_refused():
    import pandas as pd

    from rankcert.inputs import data

    raw = canonical()
    raw["data"]["eval_size"] = "all"
    assert params_from_dict(raw).data.eval_rows is None
    split = pd.DataFrame({"sentence": [f"s{i}" for i in range(7)], "label": [i % 2 for i in range(7)]})
    assert len(data.take_eval(split, None)) == 7
    raw["data"]["eval_size"] = "most"
    with pytest.raises(RankcertError, match="data.eval_size must be an integer or all, not 'most'"):
        params_from_dict(raw)
