"""More than two labels, end to end on CPU: prepare, probe, compress, evaluate and certify on 3-class data."""
import json
import shutil

import pytest
import yaml

from rankcert.certification import certificate
from rankcert.config.entrypoint import run_main
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from stages import certify, compress, evaluate, prepare, probe
from tests.helpers import PROJECT


@pytest.fixture
def three_classes(tmp_path, raw_params, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "three"
    folder.mkdir()
    demo.synthetic_sentiment(300, seed=1, labels=3).to_json(folder / "train.jsonl", orient="records", lines=True)
    demo.synthetic_sentiment(90, seed=2, labels=3).to_json(folder / "validation.jsonl", orient="records", lines=True)
    raw_params["model"]["num_labels"] = 3
    raw_params["data"].update(source=str(folder), train_size=240, eval_size=60)
    raw_params["inputs"]["data"] = str(folder)
    raw_params["train"].update(steps=8, log_every=4)
    raw_params["seeds"] = [1, 2]
    raw_params["variants"] = ["uniform_r4", "truncated_uniform_r2"]
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"version": 1, "name": "three", "scope": {"model_family": "distilbert",
                                                                               "task": "three"},
                                      "criteria": {"tolerance": 0.025, "min_pass_rate": 0.67},
                                      "claims": {"expected": {}, "primary_uniform_rank": 4,
                                                 "conservative_uniform_rank": 4, "avoid_ranks": []}}))
    raw_params["certify"]["policy"] = str(policy)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    shutil.copytree(PROJECT / "plots" / "templates", tmp_path / "plots" / "templates")
    return tmp_path


def test_three_labels_run_through_every_stage(three_classes):
    for seed in (1, 2):
        for stage in (prepare, probe, compress, evaluate):
            stage.main(["--seed", str(seed)])
    run_main(certify.main, [])
    manifest = json.loads((LAYOUT.prepared(1) / "manifest.json").read_text())
    assert len(manifest["eval"]["label_counts"]) == 3 and sum(manifest["eval"]["label_counts"]) == 60
    predictions = (LAYOUT.predictions(2, "uniform_r4")).read_text().splitlines()[1:]
    assert {int(row.split(",")[2]) for row in predictions} <= {0, 1, 2} and len(predictions) == 60
    result = certificate.read(three_classes / LAYOUT.certificate, three_classes / LAYOUT.certificate_details).details
    assert set(result.variants) == {"uniform_r4", "truncated_uniform_r2"}
    assert all(v.seeds[1].accuracy is not None for v in result.variants.values())


def test_a_label_beyond_num_labels_is_one_line(three_classes, capsys):
    folder = three_classes / "three"
    rows = (folder / "train.jsonl").read_text().splitlines()
    rows[5] = json.dumps({"sentence": "a film", "label": 3})
    (folder / "train.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(SystemExit) as stop:
        run_main(prepare.main, ["--seed", "1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "labels must be 0, 1 or 2; row 5 has 3 (model.num_labels is 3)" in err
