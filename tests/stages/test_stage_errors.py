"""Bad input at the stage level: one readable line, exit code 2, and no output that could pass for a result."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from rankcert.config.entrypoint import run_main
from rankcert.runtime.layout import LAYOUT
from stages import certify, compress, evaluate, prepare, probe, validate
from tests.helpers import PROJECT, set_in


def write_params(tmp_path, raw, **changes):
    for dotted, value in changes.items():
        set_in(raw, dotted.split("__"), value)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))


def run_stage(module, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        run_main(module.main, argv)
    err = capsys.readouterr().err.strip()
    return stop.value.code, err


def data_dir(tmp_path, train: pd.DataFrame):
    folder = tmp_path / "sst2"
    folder.mkdir()
    train.to_json(folder / "train.jsonl", orient="records", lines=True)
    pd.DataFrame({"sentence": ["good film"] * 20, "label": [i % 2 for i in range(20)]}).to_json(
        folder / "validation.jsonl", orient="records", lines=True)
    return str(folder)


GOOD = pd.DataFrame({"sentence": [f"a good film {i}" for i in range(40)], "label": [i % 2 for i in range(40)]})

PREPARE_CASES = [
    ("unknown key", {"train__stpes": 3}, None, "unknown key 'train.stpes'; did you mean 'steps'?"),
    ("missing column", {}, GOOD.rename(columns={"sentence": "text"}), "missing column(s) ['sentence']"),
    ("labels not 0/1", {}, GOOD.assign(label=[i % 3 for i in range(40)]), "labels must be 0 or 1; row 2 has 2"),
    ("empty sentence", {}, GOOD.assign(sentence=[""] + list(GOOD["sentence"][1:])), "empty sentence in row 0"),
    ("too few rows", {"data__train_size": 41}, GOOD, "train_size is 41 but the train split has only 40 rows"),
    ("eval larger than split", {"data__eval_size": 21}, GOOD, "eval_size is 21 but the validation split has only 20"),
    ("missing model dir", {"model__name": "./no/such/model"}, GOOD, "model.name './no/such/model' is not a directory"),
    ("hub id offline", {"model__name": "no-such-org/no-such-model"}, GOOD, "set model.name to a local model directory"),
    ("one class only", {}, GOOD.assign(label=[1] * 40), "num_labels is 2 but no row has label 0 (the labels are 1)"),
    ("one class drawn", {"data__train_size": 2, "train__batch_size": 2}, GOOD.assign(label=[1] * 38 + [0] * 2),
     "all have label 1; a classifier needs both labels"),
    ("num_labels above the data's", {"model__num_labels": 3}, GOOD,
     "train.*: model.num_labels is 3 but no row has label 2 (the labels are 0, 1); set model.num_labels to 2"),
    ("batch above sample", {"train__batch_size": 64}, GOOD, "train.batch_size 64 is larger than data.train_size 30"),
]


@pytest.mark.parametrize("label,changes,train,message", PREPARE_CASES, ids=[c[0] for c in PREPARE_CASES])
def test_prepare_bad_input(tmp_path, raw_params, monkeypatch, capsys, label, changes, train, message):
    monkeypatch.chdir(tmp_path)
    raw_params["data"]["source"] = data_dir(tmp_path, GOOD if train is None else train)
    raw_params["data"]["train_size"], raw_params["data"]["eval_size"] = 30, 10
    if "train__stpes" in changes:
        raw_params["train"]["stpes"] = 3
        changes = {}
    write_params(tmp_path, raw_params, **changes)
    code, err = run_stage(prepare, ["--seed", "1"], capsys)
    assert code == 2 and err.startswith("rankcert: error: ") and "\n" not in err
    assert message in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "metrics").exists()


def test_probe_with_target_modules_that_match_nothing(tmp_path, raw_params, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, raw_params)
    prepare.main(["--seed", "1"])
    raw_params["model"]["target_modules"] = ["query", "value"]
    write_params(tmp_path, raw_params)
    code, err = run_stage(probe, ["--seed", "1"], capsys)
    assert code == 2 and "['query', 'value'] match no Linear or Conv1D module; names that exist include:" in err
    assert "q_lin" in err and not LAYOUT.probe(1).exists()


def test_compress_with_spectra_for_other_modules(tmp_path, raw_params, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, raw_params)
    prepare.main(["--seed", "1"])
    LAYOUT.probe(1).mkdir(parents=True)
    (LAYOUT.probe(1) / "spectra.json").write_text(json.dumps({"probe_rank": 32, "modules": {
        "encoder.layer.0.attention.self.query": {"singular_values": [1.0], "stable_rank": 1.0}}}))
    code, err = run_stage(compress, ["--seed", "1"], capsys)
    assert code == 2 and "probe spectra lack modules ['distilbert.transformer.layer.0.attention.q_lin'" in err
    assert not LAYOUT.variants(1).exists()


POLICY_CASES = [
    ("malformed yaml", "claims: [oops\n", "is not valid YAML"),
    ("missing field", "version: 1\nname: x\n", "missing key 'scope'"),
    ("claim about a name no kind defines", None, "'uniform_rx8', which no variant kind defines"),
]


@pytest.mark.parametrize("label,text,message", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_certify_bad_policy(tmp_path, raw_params, monkeypatch, capsys, label, text, message):
    monkeypatch.chdir(tmp_path)
    if text is None:
        policy = yaml.safe_load(open(PROJECT / "policies" / "safe_uniform.yaml"))
        policy["claims"]["expected"]["uniform_rx8"] = "SAFE"
        text = yaml.safe_dump(policy)
    (tmp_path / "policy.yaml").write_text(text)
    raw_params["certify"]["policy"] = "policy.yaml"
    write_params(tmp_path, raw_params)
    code, err = run_stage(certify, [], capsys)
    assert code == 2 and message in err and "\n" not in err
    assert not (tmp_path / "metrics").exists() and not (tmp_path / "plots").exists()


VALIDATE_CASES = [
    ("max_length beyond the model", {"model__max_length": 65}, "model.max_length 65 exceeds the model's "
                                                                 "max_position_embeddings 64"),
    ("seed beyond 32 bits", {"seeds": [42, 2**32]}, "seeds must be in 0..4294967295"),
    ("policy path is a folder", {"certify__policy": "."}, "policy . is a folder"),
    ("duplicate policy key", {"certify__policy": "dup.yaml"}, "is not valid YAML"),
    ("local model not tracked", {"inputs": {}}, "is a local folder that DVC doesn't track; add it to params.yaml"),
    ("a GPU that isn't there", {"runtime__device": "cuda:7"}, "runtime.device is 'cuda:7' but "),
    ("num_labels above the data's", {"model__num_labels": 3}, "train.*: model.num_labels is 3 but no row has label 2 "
                                                              "(the labels are 0, 1); set model.num_labels to 2"),
    ("train_size above the split", {"data__train_size": 10**6}, "data.train_size is 1000000 but the train split has "
                                                                 "only"),
    ("eval_size above the split", {"data__eval_size": 10**6}, "data.eval_size is 1000000 but the validation split"),
]


@pytest.mark.parametrize("label,changes,message", VALIDATE_CASES, ids=[c[0] for c in VALIDATE_CASES])
def test_validate_stops_late_crashes_up_front(tmp_path, raw_params, monkeypatch, capsys, label, changes, message):
    monkeypatch.chdir(tmp_path)
    policy = (PROJECT / "policies" / "safe_uniform.yaml").read_text()
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "safe_uniform.yaml").write_text(policy)
    (tmp_path / "dup.yaml").write_text(policy + "name: twice\n")
    write_params(tmp_path, raw_params, **changes)
    code, err = run_stage(validate, ["--out", "validated.json", "--params-out", "params"], capsys)
    assert code == 2 and message in err and "\n" not in err
    assert not (tmp_path / "validated.json").exists() and not (tmp_path / "params").exists()


def test_validate_writes_the_same_marker_for_any_valid_params_and_changes_only_the_readers_params_files(
        tmp_path, raw_params, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "safe_uniform.yaml").write_text((PROJECT / "policies" / "safe_uniform.yaml").read_text())
    outputs = []
    for lr in (0.001, 0.002):
        raw_params["train"]["lr"] = lr
        write_params(tmp_path, raw_params)
        validate.main(["--out", "validated.json", "--params-out", "params"])
        outputs.append({p.name: p.read_bytes() for p in sorted(tmp_path.glob("params/*.json")) + [tmp_path / "validated.json"]})
    assert sorted(outputs[0]) == ["compress.json", "evaluate.json", "prepare.json", "probe.json", "validated.json"]
    # nothing downstream reruns because validate ran; a training param reruns the trainings only
    assert [name for name in outputs[0] if outputs[0][name] != outputs[1][name]] == ["compress.json", "probe.json"]


@pytest.fixture
def trained_probe(tmp_path, raw_params, monkeypatch):
    """A prepared seed and a 4-step probe in tmp_path."""
    monkeypatch.chdir(tmp_path)
    raw_params["train"].update(steps=4, log_every=2)
    write_params(tmp_path, raw_params)
    raw_params["variants"] = ["truncated_uniform_r2"]  # a variant without training: evaluate has two adapters
    write_params(tmp_path, raw_params)
    prepare.main(["--seed", "1"])
    probe.main(["--seed", "1"])
    compress.main(["--seed", "1"])
    return tmp_path / LAYOUT.adapter(1, "probe")


def _evaluate(capsys):
    return run_stage(evaluate, ["--seed", "1"], capsys)


ADAPTER_DAMAGE = [  # after its stage wrote it: evaluate checks the adapter against the hash run.json recorded
    ("truncated weights", lambda a: (a / "adapter_model.safetensors").write_bytes(
        (a / "adapter_model.safetensors").read_bytes()[:100]), "is not the adapter its stage wrote"),
    ("200 flipped bytes in the tensors", lambda a: _flip_bytes(a / "adapter_model.safetensors", 200),
     "is not the adapter its stage wrote"),
    ("random weights file", lambda a: (a / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 4),
     "is not the adapter its stage wrote"),
    ("config removed", lambda a: (a / "adapter_config.json").unlink(), "data/probe/1/adapter has no adapter_config.json"),
    ("config with another rank", lambda a: _set_config_rank(a / "adapter_config.json", 8),
     "is not the adapter its stage wrote"),
    ("alpha_pattern times 10", lambda a: _scale_alpha(a / "adapter_config.json", 10), "is not the adapter its stage wrote"),
]


def _flip_bytes(path, count):
    data = bytearray(path.read_bytes())
    for i in range(len(data) - count, len(data)):  # the end of the file: inside the last tensor
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _scale_alpha(path, factor):
    config = json.loads(path.read_text())
    config["alpha_pattern"] = {module: alpha * factor for module, alpha in config["alpha_pattern"].items()}
    config["lora_alpha"] *= factor
    path.write_text(json.dumps(config))


def _set_config_rank(path, rank):
    config = json.loads(path.read_text())
    config["r"] = rank
    config["rank_pattern"] = {module: rank for module in config["rank_pattern"]}
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("label,damage,message", ADAPTER_DAMAGE, ids=[c[0] for c in ADAPTER_DAMAGE])
def test_evaluate_a_damaged_adapter_is_one_line(trained_probe, capsys, label, damage, message):
    damage(trained_probe)
    code, err = _evaluate(capsys)
    assert code == 2 and message in err and "\n" not in err
    assert not LAYOUT.eval_metrics_folder(1).exists() and not LAYOUT.predictions_folder(1).exists()


def test_prepare_run_on_its_own_checks_the_models_limit(tmp_path, raw_params, monkeypatch, capsys):
    """Without validate before it (`python -m stages.prepare`), prepare checks the limit it relies on."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, raw_params, model__max_length=100000)
    code, err = run_stage(prepare, ["--seed", "1"], capsys)
    assert code == 2 and "model.max_length 100000 exceeds the model's max_position_embeddings 64" in err
    assert not (tmp_path / "data").exists()


def test_evaluate_refuses_prepared_sequences_longer_than_the_model_takes(trained_probe, capsys):
    """A prepared set made for another model (or by hand) is one line, not a tensor-size traceback."""
    from safetensors.numpy import load_file, save_file

    path = LAYOUT.prepared(1) / "eval.safetensors"
    tensors = load_file(str(path))
    wide = {k: np.pad(v, ((0, 0), (0, 100 - v.shape[1]))) if v.ndim == 2 else v for k, v in tensors.items()}
    save_file(wide, str(path))
    code, err = _evaluate(capsys)
    assert code == 2 and "\n" not in err
    assert "data/prepared/1/eval.safetensors holds sequences of 100 tokens but the model takes at most 64" in err
    assert not LAYOUT.predictions_folder(1).exists()


def test_a_refusal_under_dvc_says_how_to_get_the_removed_outputs_back(tmp_path, raw_params, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_STAGE", "prepare@1")  # dvc repro sets it; DVC removed the stage's outputs before
    write_params(tmp_path, raw_params, model__max_length=100000)
    code, err = run_stage(prepare, ["--seed", "1"], capsys)
    assert code == 2 and "\n" not in err
    assert err.endswith("(DVC removed this stage's previous outputs before running it: `dvc checkout prepare@1` "
                        "brings them back)")
