"""CUDA smoke tests of what the stages run (cotrain.fit_all): skipped without a GPU; run on the H200 device machine."""
import dataclasses

import pytest
import torch

from rankcert.config.params import params_from_dict
from rankcert.evaluation import prediction
from rankcert.inputs import data, padding
from rankcert.tools import demo
from rankcert.training import base as base_module
from rankcert.training import cotrain

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(params=["demo", *demo.DECODERS])
def profile_params(request, demo_params_obj, decoder_assets):
    """The demo's tiny DistilBERT, and the tiny Llama and GPT-2 (tokenizers without a pad token)."""
    if request.param == "demo":
        return demo_params_obj
    return params_from_dict(demo.demo_params(str(decoder_assets / request.param), request.param))


def _run(params, graphs: bool, steps=60, seed=3):
    """One rank-8 adapter trained as the stages train it (cotrain.fit_all), graphed or eager on the GPU."""
    tokenizer, _ = padding.classification_tokenizer(params.model.name)
    train_set = data.encode(demo.synthetic_sentiment(400, seed=5), tokenizer, 32)
    eval_set = data.encode(demo.synthetic_sentiment(200, seed=6), tokenizer, 32)
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, steps=steps, log_every=10),
                                 probe=dataclasses.replace(params.probe, dropout=0.0),
                                 runtime=dataclasses.replace(params.runtime, cuda_graphs=graphs))
    base = base_module.SharedBase(params, seed)
    job = base_module.Job("uniform_r8", dict.fromkeys(base.modules, 8), dict.fromkeys(base.modules, 8.0))
    device = torch.device("cuda")
    (trained,) = cotrain.fit_all(base, [job], train_set, device, "cuda-test")
    pred = prediction.predict(trained.model, eval_set, 64, device)
    acc = sum(int(p == y) for p, y in zip(pred, eval_set.labels.tolist())) / len(pred)
    weights = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items() if "lora_" in k}
    return trained.log, acc, weights


def test_graphed_training_learns_like_eager_training(profile_params):
    eager_log, eager_acc, _ = _run(profile_params, graphs=False)
    graph_log, graph_acc, _ = _run(profile_params, graphs=True)
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in graph_log)
    assert graph_log[-1].loss < graph_log[0].loss
    assert abs(graph_acc - eager_acc) < 0.08, (graph_acc, eager_acc)


def test_graphed_rerun_is_reproducible(profile_params):
    log_a, acc_a, weights_a = _run(profile_params, graphs=True, steps=30)
    log_b, acc_b, weights_b = _run(profile_params, graphs=True, steps=30)
    assert acc_a == acc_b
    assert [r.loss for r in log_a] == pytest.approx([r.loss for r in log_b], abs=1e-5)
    worst = max(float((weights_a[k] - weights_b[k]).abs().max()) for k in weights_a)
    assert worst < 1e-4, worst


def test_bf16_autocast_trains(profile_params):
    params = dataclasses.replace(profile_params, train=dataclasses.replace(profile_params.train, precision="bf16"))
    log, acc, weights = _run(params, graphs=True)
    _, _, fp32_weights = _run(profile_params, graphs=True)
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in log) and 0.0 <= acc <= 1.0
    assert any(not torch.equal(weights[k], fp32_weights[k]) for k in weights)  # autocast really ran


def _cotrain(params, names: list[str], seed=3, steps=40):
    """Train the named uniform variants together on the GPU; name -> (LoRA weights, predictions)."""
    tokenizer, _ = padding.classification_tokenizer(params.model.name)
    train_set = data.encode(demo.synthetic_sentiment(400, seed=5), tokenizer, 32)
    eval_set = data.encode(demo.synthetic_sentiment(200, seed=6), tokenizer, 32)
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, steps=steps, log_every=10),
                                 probe=dataclasses.replace(params.probe, dropout=0.1))  # RNG used in every step
    base = base_module.SharedBase(params, seed)
    jobs = [base_module.Job(n, {m: int(n[9:]) for m in base.modules}, {m: float(n[9:]) for m in base.modules})
            for n in names]
    device = torch.device("cuda")
    out = {}
    for trained in cotrain.fit_all(base, jobs, train_set, device, "cuda-test"):
        assert trained.together == len(names)
        weights = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items() if "lora_" in k}
        out[trained.job.name] = (weights, prediction.predict(trained.model, eval_set, 64, device))
    return out


def test_a_variant_trained_beside_others_matches_it_trained_alone(profile_params):
    alone = _cotrain(profile_params, ["uniform_r8"])["uniform_r8"]
    beside = _cotrain(profile_params, ["uniform_r4", "uniform_r8", "uniform_r2"])
    reordered = _cotrain(profile_params, ["uniform_r2", "uniform_r4", "uniform_r8"])
    for other in (beside["uniform_r8"], reordered["uniform_r8"]):
        worst = max(float((alone[0][k] - other[0][k]).abs().max()) for k in alone[0])
        print(f"max |dw| alone vs together: {worst:.3g}")
        assert worst < 1e-4, worst
        assert other[1] == alone[1]
    assert beside["uniform_r4"][1] == reordered["uniform_r4"][1]


def test_the_gpu_trainer_trains_the_bytes_a_stage_trains_itself(profile_params, tmp_path, monkeypatch):
    """Two seeds' jobs sent to one GPU trainer (RANKCERT_TRAINER=gpu) against each trained in its own cohort."""
    tokenizer, _ = padding.classification_tokenizer(profile_params.model.name)
    data.save_encoded(data.encode(demo.synthetic_sentiment(400, seed=5), tokenizer, 32), tmp_path / "train.safetensors")
    train_set = data.load_encoded(tmp_path / "train.safetensors")
    params = dataclasses.replace(profile_params, train=dataclasses.replace(profile_params.train, steps=40, log_every=10),
                                 probe=dataclasses.replace(profile_params.probe, dropout=0.1))
    monkeypatch.setenv("RANKCERT_WORKER_DIR", str(tmp_path / "run"))

    def trained(mode: str) -> dict:
        monkeypatch.setenv("RANKCERT_TRAINER", mode)
        out = {}
        for seed in (3, 4):
            base = base_module.SharedBase(params, seed)
            jobs = [base_module.Job(f"uniform_r{r}", dict.fromkeys(base.modules, r), dict.fromkeys(base.modules, float(r)))
                    for r in (2, 8)]
            for done in cotrain.fit_all(base, jobs, train_set, torch.device("cuda"), f"cuda-test@{seed}"):
                out[(seed, done.job.name)] = ({k: v.detach().cpu() for k, v in done.model.state_dict().items()},
                                              [row.loss for row in done.log])
        return out

    own, on_trainer = trained("off"), trained("gpu")
    assert own.keys() == on_trainer.keys()
    for key, (weights, losses) in own.items():
        assert losses == on_trainer[key][1], key
        assert all(torch.equal(weights[k], on_trainer[key][0][k]) for k in weights), key
