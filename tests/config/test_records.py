"""The records stages hand to each other: written and read back as typed fields, the files' bytes as before, and
a file of another shape refused in one line naming it."""
import json

import pytest

from rankcert.config import codec, records
from rankcert.config.records import (
    AdapterConfig,
    AdapterRun,
    Evaluation,
    Manifest,
    PadToken,
    RankPlan,
    Sample,
    Spectra,
    Spectrum,
    Tracked,
    Training,
)
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.outputs import to_json
from tests.helpers import PROJECT, stand_in_training


def manifest(labels: dict) -> Manifest:
    return Manifest(42, "glue", train=Sample(800, "a" * 64, 31, **labels),
                    eval=Sample(300, "b" * 64, 29, **labels, split_rows=872))


@pytest.mark.parametrize("labels", [{"positive": 410}, {"label_counts": [100, 120, 80]}])
def test_a_manifest_is_the_json_prepare_wrote_before_it_was_typed(tmp_path, labels):
    legacy = {"seed": 42, "source": "glue",  # the manifest as prepare wrote it by hand, before records.py
              "train": {"rows": 800, "fingerprint": "a" * 64, **labels, "padded_length": 31},
              "eval": {"rows": 300, "split_rows": 872, "fingerprint": "b" * 64, **labels, "padded_length": 29}}
    assert records.text(manifest(labels)) == to_json(legacy)
    (tmp_path / "manifest.json").write_text(to_json(legacy))
    assert records.read(tmp_path / "manifest.json", Manifest) == manifest(labels)


def test_an_evaluation_record_is_the_json_evaluate_wrote_before_it_was_typed(tmp_path):
    legacy = {"adapter_sha256": "c" * 64, "predictions_sha256": "d" * 64, "accuracy": 0.82, "correct": 246,
              "examples": 300, "trainable_parameters": 20674, "reduction_vs_probe": 0.0}
    found = Evaluation(**legacy)
    assert records.text(found) == to_json(legacy)
    (tmp_path / "e.json").write_text(json.dumps(legacy))  # any spelling of the same JSON reads the same
    assert records.read(tmp_path / "e.json", Evaluation) == found


def test_an_adapter_run_record_round_trips_with_its_training_and_pad_token(tmp_path):
    from rankcert.config.params import load_params

    training = stand_in_training(load_params(PROJECT / "params.yaml"), 7, steps=300)
    run = AdapterRun("uniform_r20", 7, {"l0.q": 20}, "e" * 64, "f" * 64, training, "0" * 64, "distilbert",
                     PadToken("[PAD]", 0, "tokenizer"), 20674, "3.11.9", {"torch": "2.13.0"}, "cpu (x86_64)")
    (tmp_path / "run.json").write_text(records.text(run))
    back = records.read(tmp_path / "run.json", AdapterRun)
    assert back == run and back.training.recipe.lr == 5e-5 and back.training.steps == 300
    raw = json.loads(records.text(run))
    assert raw["pad_token"] == {"token": "[PAD]", "id": 0, "source": "tokenizer"}  # run.json's keys, as before
    assert raw["training"]["source"] == "trained" and raw["training"]["recipe"]["precision"] == "fp32"


def test_optional_fields_left_at_none_are_not_written_and_null_reads_as_none(tmp_path):
    sample = Sample(10, "a" * 64, 8)
    assert json.loads(records.text(sample)) == {"rows": 10, "fingerprint": "a" * 64, "padded_length": 8}
    (tmp_path / "s.json").write_text(json.dumps({**codec.dump(sample), "split_rows": None}))
    assert records.read(tmp_path / "s.json", Sample) == sample


@pytest.mark.parametrize("content,message", [
    ("{", "e.json is not JSON"),
    ("[1, 2]", "is not the evaluation record this rankcert writes (the file must be a mapping"),
    ('{"accuracy": 0.5}', "(missing key 'adapter_sha256': written by another version, or edited)"),
    (json.dumps({"adapter_sha256": "c", "predictions_sha256": "d", "accuracy": 0.5, "correct": "all",
                 "examples": 2, "trainable_parameters": 1, "reduction_vs_probe": 0.0}),
     "(correct must be an integer, not 'all'"),
    (json.dumps({"adapter_sha256": "c", "predictions_sha256": "d", "accuracy": 0.5, "correct": 1, "examples": 2,
                 "trainable_parameters": 1, "reduction_vs_probe": 0.0, "note": "x"}), "unknown key 'note'"),
])
def test_a_file_of_another_shape_is_one_line_naming_it(tmp_path, content, message):
    (tmp_path / "e.json").write_text(content)
    with pytest.raises(RankcertError) as err:
        records.read(tmp_path / "e.json", Evaluation)
    assert message in str(err.value) and str(tmp_path / "e.json") in str(err.value) and "\n" not in str(err.value)
    assert "rerun its stage (dvc repro)" in str(err.value)


def test_a_training_source_is_one_of_those_known(tmp_path):
    from rankcert.config.params import load_params

    raw = codec.dump(stand_in_training(load_params(PROJECT / "params.yaml"), 1))
    (tmp_path / "t.json").write_text(json.dumps({**raw, "source": "downloaded"}))
    with pytest.raises(RankcertError, match="source must be trained, truncated or imported, not 'downloaded'"):
        records.read(tmp_path / "t.json", Training)


# Each record the stages hand on: the file as its stage wrote it before it was typed (same bytes, read back the
# same), and a file of another shape refused in one line naming the file, the key and what to do.
LEGACY = {
    Tracked: {"files": {"adapter_config.json": "a" * 64, "adapter_model.safetensors": "b" * 64}},
    Spectra: {"probe_rank": 4, "modules": {"l0.q": {"singular_values": [2.0, 1.0, 0.0, 0.0], "stable_rank": 1.25}}},
    RankPlan: {"variant": "per_layer", "kind": "per_layer", "ranks": {"l0.q": 2, "l0.v": 4},
               "energy_ranks": {"l0.q": 1, "l0.v": 3}, "energy_threshold": 0.9},
}
TYPED = {
    Tracked: Tracked({"adapter_config.json": "a" * 64, "adapter_model.safetensors": "b" * 64}),
    Spectra: Spectra(4, {"l0.q": Spectrum([2.0, 1.0, 0.0, 0.0], 1.25)}),
    RankPlan: RankPlan("per_layer", "per_layer", {"l0.q": 2, "l0.v": 4}, {"l0.q": 1, "l0.v": 3}, 0.9),
}
BROKEN = {  # a key renamed, a value of the wrong type, a field missing
    Tracked: ({"file": {}}, "unknown key 'file'; did you mean 'files'?"),
    Spectra: ({"probe_rank": 4, "modules": {"l0.q": {"singular_values": ["big"], "stable_rank": 1.0}}},
              "modules.l0.q.singular_values[0] must be a number, not 'big'"),
    RankPlan: ({"variant": "uniform_r2", "kind": "uniform", "ranks": {"l0.q": 2}, "energy_ranks": None},
               "missing key 'energy_threshold'"),
}


@pytest.mark.parametrize("kind", list(LEGACY), ids=lambda k: k.__name__)
def test_each_handed_on_record_is_the_json_its_stage_wrote_before_and_reads_back(tmp_path, kind):
    assert records.text(TYPED[kind]) == to_json(LEGACY[kind])
    (tmp_path / "r.json").write_text(json.dumps(LEGACY[kind]))
    assert records.read(tmp_path / "r.json", kind) == TYPED[kind]


@pytest.mark.parametrize("kind", list(BROKEN), ids=lambda k: k.__name__)
def test_each_handed_on_record_of_another_shape_is_one_line(tmp_path, kind):
    raw, message = BROKEN[kind]
    (tmp_path / "r.json").write_text(json.dumps(raw))
    with pytest.raises(RankcertError) as err:
        records.read(tmp_path / "r.json", kind)
    assert message in str(err.value) and str(tmp_path / "r.json") in str(err.value) and "\n" not in str(err.value)


def test_a_plan_that_reads_no_spectrum_writes_its_energy_as_null():
    uniform = RankPlan("uniform_r2", "uniform", {"l0.q": 2}, None, None)
    assert json.loads(records.text(uniform))["energy_ranks"] is None  # every plan.json has both keys


def peft_config(**change) -> dict:
    """adapter_config.json as PEFT saves it: many keys rankcert doesn't read."""
    return {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["l0.v", "l0.q"],
            "rank_pattern": {"l0.q": 2}, "alpha_pattern": {}, "use_dora": False, "bias": "none", "lora_dropout": 0.0,
            "base_model_name_or_path": "", "task_type": "SEQ_CLS", "modules_to_save": ["classifier"], **change}


def test_an_adapter_config_gives_each_modules_rank_from_its_pattern_else_r(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps(peft_config()))
    config = records.read_adapter_config(tmp_path)
    assert config == AdapterConfig("LORA", 4, 8.0, ["l0.v", "l0.q"], {"l0.q": 2}, False, "none")
    assert config.base_model_name_or_path is None  # "" names no base
    assert records.adapter_ranks(tmp_path) == {"l0.q": 2, "l0.v": 4} and config.largest_rank == 4
    (tmp_path / "adapter_config.json").write_text(json.dumps(peft_config(rank_pattern=None, r=8)))
    assert records.adapter_ranks(tmp_path) == {"l0.q": 8, "l0.v": 8}


@pytest.mark.parametrize("change,message", [
    ({"r": "four"}, "r must be an integer or null, not 'four'"),
    ({"rank_pattern": {"l0.q": 2.5}}, "rank_pattern.l0.q must be an integer, not 2.5"),
])
def test_an_adapter_config_of_another_shape_is_one_line(tmp_path, change, message):
    (tmp_path / "adapter_config.json").write_text(json.dumps(peft_config(**change)))
    with pytest.raises(RankcertError) as err:
        records.read_adapter_config(tmp_path)
    assert message in str(err.value) and "adapter_config.json" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "adapter_config.json").write_text(json.dumps(peft_config(target_modules="l0.*")))
    with pytest.raises(RankcertError, match="not a LoRA adapter config .no r or target_modules list.; rerun its stage"):
        records.adapter_ranks(tmp_path)
