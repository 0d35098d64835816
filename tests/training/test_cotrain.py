"""A seed's variants trained together (rankcert.training.cotrain, stage compress) and evaluated on one base (stage
evaluate): a variant's bytes never depend on its neighbours, and one base model gives the same predictions."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest
import torch
import yaml

from rankcert.config.entrypoint import run_main
from rankcert.config.params import params_from_dict
from rankcert.evaluation import prediction
from rankcert.inputs import data
from rankcert.runtime.layout import LAYOUT
from rankcert.training import modeling
from rankcert.training.base import Job, SharedBase
from stages import compress, evaluate, prepare, probe


@pytest.fixture
def seed_dir(tmp_path, raw_params, monkeypatch):
    """A prepared seed and its probe, with dropout on (the RNG is used in every step); params are returned."""
    monkeypatch.chdir(tmp_path)
    raw_params["train"].update(steps=6, log_every=2)
    raw_params["probe"]["dropout"] = 0.1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    prepare.main(["--seed", "5"])
    probe.main(["--seed", "5"])
    return raw_params


def _compress_with(raw_params, variants: list[str]) -> dict[str, str]:
    """Run compress@5 with these variants; sha256 of every file of each variant's run folder."""
    raw_params["variants"] = variants
    with open("params.yaml", "w") as handle:
        yaml.safe_dump(raw_params, handle)
    compress.main(["--seed", "5"])
    return {v: {f.relative_to(LAYOUT.run(5, v)).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
                for f in sorted(LAYOUT.run(5, v).rglob("*")) if f.is_file()} for v in variants}


def test_a_variant_is_the_same_bytes_alone_beside_others_and_in_another_order(seed_dir):
    alone = _compress_with(seed_dir, ["uniform_r4"])
    together = _compress_with(seed_dir, ["per_layer", "uniform_r4", "uniform_r8", "truncated_uniform_r2"])
    reversed_order = _compress_with(seed_dir, ["truncated_uniform_r2", "uniform_r8", "uniform_r4", "per_layer"])
    assert alone["uniform_r4"] == together["uniform_r4"] == reversed_order["uniform_r4"]
    assert together == reversed_order
    assert "adapter/adapter_model.safetensors" in alone["uniform_r4"]
    assert together["uniform_r4"] != together["uniform_r8"]  # not trivially equal: they really trained


def test_the_shared_base_builds_what_a_build_of_its_own_builds(demo_params_obj):
    params = demo_params_obj
    base = SharedBase(params, 9)
    jobs = [Job(name, {m: r for m in base.modules}, {m: float(r) for m in base.modules})
            for name, r in (("a", 8), ("b", 4))]
    shared = [base.lora_model(job).state_dict() for job in jobs]
    for job, state in zip(jobs, shared):
        modeling.seed_everything(9)  # a build of its own: seed, the base model, LoRA at the plan
        own = modeling.add_lora(modeling.load_base_model(params.model), params.model, job.plan, params.probe.dropout,
                                job.alphas)
        reference = own.state_dict()
        assert set(state) == set(reference) and all(torch.equal(state[k], reference[k]) for k in state)
    base_weight = next(n for n in shared[0] if "q_lin.base_layer.weight" in n)
    first, second = (base.lora_model(j).get_parameter(base_weight) for j in jobs)
    assert first.data_ptr() == second.data_ptr()  # one frozen base in memory


def test_a_diverging_variant_is_named_and_the_seed_keeps_its_previous_variants(seed_dir, capsys):
    before = _compress_with(seed_dir, ["uniform_r4"])
    seed_dir["train"]["lr"] = 1.0e12
    seed_dir["train"]["max_grad_norm"] = 0.0
    seed_dir["variants"] = ["uniform_r4", "uniform_r8"]
    with open("params.yaml", "w") as handle:
        yaml.safe_dump(seed_dir, handle)
    with pytest.raises(SystemExit) as stop:
        run_main(compress.main, ["--seed", "5"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err
    assert "[compress@5] uniform_r4 diverged: its training loss is nan" in err and "lower train.lr" in err
    assert sorted(p.name for p in LAYOUT.variants(5).iterdir()) == ["uniform_r4"]  # the previous seed folder
    after = {f.relative_to(LAYOUT.run(5, "uniform_r4")).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
             for f in sorted(LAYOUT.run(5, "uniform_r4").rglob("*")) if f.is_file()}
    assert after == before["uniform_r4"]


def test_one_base_model_predicts_as_each_adapter_on_a_base_of_its_own(seed_dir):
    _compress_with(seed_dir, ["per_layer", "uniform_r2", "truncated_uniform_r4"])
    evaluate.main(["--seed", "5"])
    params = params_from_dict(seed_dir)
    eval_set = data.load_encoded(LAYOUT.prepared(5) / "eval.safetensors")
    for name in ("probe", "per_layer", "uniform_r2", "truncated_uniform_r4"):
        modeling.seed_everything(5)
        own = modeling.load_adapter(modeling.load_base_model(params.model), LAYOUT.adapter(5, name))
        expected = prediction.predict(own, eval_set, params.evaluate.batch_size, torch.device("cpu"))
        assert pd.read_csv(LAYOUT.predictions(5, name))["prediction"].tolist() == expected, name
        assert LAYOUT.eval_metrics(5, name).is_file()
