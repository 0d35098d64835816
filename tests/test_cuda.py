"""CUDA smoke tests: skipped without a GPU; run on the H200 device machine."""
import dataclasses

import pytest
import torch

from rankcert import data, modeling, prediction, training
from rankcert.tools import demo

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _run(params, graphs: bool, steps=60, seed=3):
    tokenizer = data.load_tokenizer(params.model.name)
    train_set = data.encode(demo.synthetic_sentiment(400, seed=5), tokenizer, 32)
    eval_set = data.encode(demo.synthetic_sentiment(200, seed=6), tokenizer, 32)
    model, _, _ = modeling.build_lora_model(params.model, seed, lambda names: {n: 8 for n in names}, float, 0.0)
    recipe = dataclasses.replace(params.train, steps=steps, cuda_graphs=graphs, log_every=10)
    device = torch.device("cuda")
    log = training.train(model, train_set, recipe, seed, device, "cuda-test")
    pred = prediction.predict(model, eval_set, 64, device)
    acc = sum(int(p == y) for p, y in zip(pred, eval_set.labels.tolist())) / len(pred)
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if "lora_" in k}
    return log, acc, weights


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
