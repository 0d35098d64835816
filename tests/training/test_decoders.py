"""Decoder models end to end on CPU: the llama and gpt2 demo profiles (tokenizers without a pad token) through
prepare, probe, compress, evaluate and certify."""
import json
import shutil

import pandas as pd
import pytest
import yaml

from rankcert.certification import certificate
from rankcert.config.entrypoint import run_main
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from stages import certify, compress, evaluate, prepare, probe
from tests.helpers import PROJECT


@pytest.mark.parametrize("family,precision", [("llama", "fp32"), ("gpt2", "bf16")])
def test_a_decoder_runs_through_every_stage(decoder_assets, family, precision, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = demo.demo_params(str(decoder_assets / family), family)
    raw["data"].update(train_size=160, eval_size=60)
    raw["train"].update(steps=6, log_every=3, precision=precision)
    raw["probe"].update(rank=4, alpha=8)
    raw["compress"]["allowed_ranks"] = [2, 4]
    raw["seeds"] = [5]
    raw["variants"] = ["uniform_r2", "truncated_uniform_r4", "truncated_per_layer"]
    policy = {"version": 1, "name": family, "scope": {"model_family": family, "task": "sst2"},
              "criteria": {"tolerance": 0.025, "min_pass_rate": 0.67},
              "claims": {"expected": {}, "primary_uniform_rank": 2, "conservative_uniform_rank": 2, "avoid_ranks": []}}
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    raw["certify"]["policy"] = str(tmp_path / "policy.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copytree(PROJECT / "plots" / "templates", tmp_path / "plots" / "templates")
    for stage in (prepare, probe, compress, evaluate):
        stage.main(["--seed", "5"])
    run_main(certify.main, [])

    eos = {"llama": "</s>", "gpt2": "<|endoftext|>"}[family]
    for name in ("probe", "uniform_r2", "truncated_per_layer"):
        run = json.loads((LAYOUT.run(5, name) / "run.json").read_text())
        assert run["model_type"] == family and run["pad_token"] == {"token": eos, "id": 1 + (family == "llama"),
                                                                     "source": "eos"}
    probe_predictions = pd.read_csv(LAYOUT.predictions(5, "probe"))
    assert len(probe_predictions) == 60
    # nothing is cut at the probe's own rank: the LoRA factors re-split and the head copied predict the same
    assert pd.read_csv(LAYOUT.predictions(5, "truncated_uniform_r4")).equals(probe_predictions)
    result = certificate.read(tmp_path / LAYOUT.certificate, tmp_path / LAYOUT.certificate_details).details
    assert set(result.variants) == set(raw["variants"])
    assert all(v.seeds[5].accuracy is not None for v in result.variants.values())
