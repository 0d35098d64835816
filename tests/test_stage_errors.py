"""Bad input at the stage level: one readable line, exit code 2, and no output that could pass for a result."""
import json

import pandas as pd
import pytest
import yaml

from rankcert.errors import run_main
from stages import certify, compress, prepare, probe
from tests.helpers import PROJECT


def write_params(tmp_path, raw, **changes):
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
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
    pd.DataFrame({"sentence": ["good film"] * 20, "label": [1] * 20}).to_json(
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
    code, err = run_stage(prepare, ["--seed", "1", "--out", "out"], capsys)
    assert code == 2 and err.startswith("rankcert: error: ") and "\n" not in err
    assert message in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "metrics").exists()


def test_probe_with_target_modules_that_match_nothing(tmp_path, raw_params, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, raw_params)
    prepare.main(["--seed", "1", "--out", "p"])
    raw_params["model"]["target_modules"] = ["query", "value"]
    write_params(tmp_path, raw_params)
    code, err = run_stage(probe, ["--seed", "1", "--prepared", "p", "--out", "out"], capsys)
    assert code == 2 and "['query', 'value'] match no Linear module; names that exist include:" in err
    assert "q_lin" in err and not (tmp_path / "out").exists()


def test_compress_with_spectra_for_other_modules(tmp_path, raw_params, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, raw_params)
    prepare.main(["--seed", "1", "--out", "p"])
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "spectra.json").write_text(json.dumps(
        {"probe_rank": 32, "modules": {"encoder.layer.0.attention.self.query": {"singular_values": [1.0]}}}))
    code, err = run_stage(compress, ["--seed", "1", "--variant", "per_layer", "--prepared", "p", "--probe", "probe",
                                     "--out", "out"], capsys)
    assert code == 2 and "probe spectra lack modules ['distilbert.transformer.layer.0.attention.q_lin'" in err
    assert not (tmp_path / "out").exists()


POLICY_CASES = [
    ("malformed yaml", "claims: [oops\n", "is not valid YAML"),
    ("missing field", "version: 1\nname: x\n", "missing key 'scope'"),
    ("claim about undefined variant", None, "'uniform_r8', which params.yaml variants"),
]


@pytest.mark.parametrize("label,text,message", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_certify_bad_policy(tmp_path, raw_params, monkeypatch, capsys, label, text, message):
    monkeypatch.chdir(tmp_path)
    if text is None:
        policy = yaml.safe_load(open(PROJECT / "policies" / "safe_uniform.yaml"))
        policy["claims"]["expected"]["uniform_r8"] = "SAFE"
        text = yaml.safe_dump(policy)
    (tmp_path / "policy.yaml").write_text(text)
    raw_params["certify"]["policy"] = "policy.yaml"
    write_params(tmp_path, raw_params)
    code, err = run_stage(certify, [], capsys)
    assert code == 2 and message in err and "\n" not in err
    assert not (tmp_path / "metrics").exists() and not (tmp_path / "plots").exists()
