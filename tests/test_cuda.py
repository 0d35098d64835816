"""CUDA smoke tests of what the stages run (cotrain.fit_all): skipped without a GPU; run on the H200 device machine."""
import dataclasses

import pytest
import torch

from rankcert import cotrain, data, prediction
from rankcert.tools import demo

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _run(params, graphs: bool, steps=60, seed=3):
    """One rank-8 adapter trained as the stages train it (cotrain.fit_all), graphed or eager on the GPU."""
    tokenizer = data.load_tokenizer(params.model.name)
    train_set = data.encode(demo.synthetic_sentiment(400, seed=5), tokenizer, 32)
    eval_set = data.encode(demo.synthetic_sentiment(200, seed=6), tokenizer, 32)
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, steps=steps, log_every=10),
                                 probe=dataclasses.replace(params.probe, dropout=0.0),
                                 runtime=dataclasses.replace(params.runtime, cuda_graphs=graphs))
    base = cotrain.SharedBase(params, seed)
    job = cotrain.Job("uniform_r8", dict.fromkeys(base.modules, 8), dict.fromkeys(base.modules, 8.0))
    device = torch.device("cuda")
    (trained,) = cotrain.fit_all(base, [job], train_set, device, "cuda-test")
    pred = prediction.predict(trained.model, eval_set, 64, device)
    acc = sum(int(p == y) for p, y in zip(pred, eval_set.labels.tolist())) / len(pred)
    weights = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items() if "lora_" in k}
    return trained.log, acc, weights


def test_graphed_training_learns_like_eager_training(demo_params_obj):
    eager_log, eager_acc, _ = _run(demo_params_obj, graphs=False)
    graph_log, graph_acc, _ = _run(demo_params_obj, graphs=True)
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in graph_log)
    assert graph_log[-1].loss < graph_log[0].loss
    assert abs(graph_acc - eager_acc) < 0.08, (graph_acc, eager_acc)


def test_graphed_rerun_is_reproducible(demo_params_obj):
    log_a, acc_a, weights_a = _run(demo_params_obj, graphs=True, steps=30)
    log_b, acc_b, weights_b = _run(demo_params_obj, graphs=True, steps=30)
    assert acc_a == acc_b
    assert [r.loss for r in log_a] == pytest.approx([r.loss for r in log_b], abs=1e-5)
    worst = max(float((weights_a[k] - weights_b[k]).abs().max()) for k in weights_a)
    assert worst < 1e-4, worst


def test_bf16_autocast_trains(demo_params_obj):
    params = dataclasses.replace(demo_params_obj, train=dataclasses.replace(demo_params_obj.train, precision="bf16"))
    log, acc, weights = _run(params, graphs=True)
    _, _, fp32_weights = _run(demo_params_obj, graphs=True)
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in log) and 0.0 <= acc <= 1.0
    assert any(not torch.equal(weights[k], fp32_weights[k]) for k in weights)  # autocast really ran


def _cotrain(params, names: list[str], seed=3, steps=40):
    """Train the named uniform variants together on the GPU; name -> (LoRA weights, predictions)."""
    tokenizer = data.load_tokenizer(params.model.name)
    train_set = data.encode(demo.synthetic_sentiment(400, seed=5), tokenizer, 32)
    eval_set = data.encode(demo.synthetic_sentiment(200, seed=6), tokenizer, 32)
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, steps=steps, log_every=10),
                                 probe=dataclasses.replace(params.probe, dropout=0.1))  # RNG used in every step
    base = cotrain.SharedBase(params, seed)
    jobs = [cotrain.Job(n, {m: int(n[9:]) for m in base.modules}, {m: float(n[9:]) for m in base.modules})
            for n in names]
    device = torch.device("cuda")
    out = {}
    for trained in cotrain.fit_all(base, jobs, train_set, device, "cuda-test"):
        assert trained.together == len(names)
        weights = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items() if "lora_" in k}
        out[trained.job.name] = (weights, prediction.predict(trained.model, eval_set, 64, device))
    return out


def test_a_variant_trained_beside_others_matches_it_trained_alone(demo_params_obj):
    alone = _cotrain(demo_params_obj, ["uniform_r8"])["uniform_r8"]
    beside = _cotrain(demo_params_obj, ["uniform_r4", "uniform_r8", "uniform_r2"])
    reordered = _cotrain(demo_params_obj, ["uniform_r2", "uniform_r4", "uniform_r8"])
    for other in (beside["uniform_r8"], reordered["uniform_r8"]):
        worst = max(float((alone[0][k] - other[0][k]).abs().max()) for k in alone[0])
        print(f"max |dw| alone vs together: {worst:.3g}")
        assert worst < 1e-4, worst
        assert other[1] == alone[1]
    assert beside["uniform_r4"][1] == reordered["uniform_r4"][1]
