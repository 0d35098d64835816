import dataclasses

import pytest
import torch

from rankcert.evaluation import prediction
from rankcert.inputs import data
from rankcert.tools import demo
from rankcert.training import base as base_module
from rankcert.training import loop


def test_batch_order_is_seeded_and_covers_each_epoch_once():
    order = loop.batch_order(10, steps=5, batch_size=4, seed=3)
    assert order.shape == (5, 4)
    flat = order.flatten().tolist()
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert torch.equal(order, loop.batch_order(10, 5, 4, seed=3))
    assert not torch.equal(order, loop.batch_order(10, 5, 4, seed=4))


def test_linear_schedule_with_warmup_matches_transformers():
    from transformers import get_linear_schedule_with_warmup

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    reference = get_linear_schedule_with_warmup(opt, num_warmup_steps=50, num_training_steps=500)
    for step in range(500):
        assert loop.lr_factor(step, 500, 50) == pytest.approx(reference.get_last_lr()[0], abs=1e-12)
        opt.step()
        reference.step()


def test_loss_log_windows():
    recipe = type("R", (), {"steps": 7, "log_every": 3, "lr": 1.0})
    rows = loop.loss_log([1, 2, 3, 4, 5, 6, 7], recipe, warmup=0)
    assert [(r.step, r.loss) for r in rows] == [(3, 2.0), (6, 5.0), (7, 7.0)]


def lora_model(params, seed: int, rank: int, dropout: float):
    """A rank-`rank` adapter on the seed's base model, built as the stages build one (base_module.SharedBase)."""
    params = dataclasses.replace(params, probe=dataclasses.replace(params.probe, dropout=dropout))
    base = base_module.SharedBase(params, seed)
    return base.lora_model(base_module.Job("test", dict.fromkeys(base.modules, rank), dict.fromkeys(base.modules, float(rank))))


def _tiny_run(params, seed):
    tokenizer = data.load_tokenizer(params.model.name)
    encoded = data.encode(demo.synthetic_sentiment(64, seed=5), tokenizer, 24)
    model = lora_model(params, seed, 4, 0.0)
    recipe = dataclasses.replace(params.train, steps=6, batch_size=8, log_every=2)
    log = loop.train(model, encoded, recipe, seed, torch.device("cpu"), "test")
    weights = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k}
    return log, weights, prediction.predict(model, encoded, 16, torch.device("cpu"))


def test_same_seed_gives_bit_identical_weights_and_losses(demo_params_obj):
    log_a, weights_a, pred_a = _tiny_run(demo_params_obj, 7)
    log_b, weights_b, pred_b = _tiny_run(demo_params_obj, 7)
    assert log_a == log_b and pred_a == pred_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    _, weights_c, _ = _tiny_run(demo_params_obj, 8)
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)
    assert len(log_a) == 3 and all(r.loss > 0 for r in log_a)


def test_resume_from_checkpoint_is_bit_identical(demo_params_obj, tmp_path, monkeypatch):
    from rankcert.training.checkpoint import Checkpoint

    monkeypatch.chdir(tmp_path)
    params = demo_params_obj
    tokenizer = data.load_tokenizer(params.model.name)
    encoded = data.encode(demo.synthetic_sentiment(64, seed=5), tokenizer, 24)
    recipe = dataclasses.replace(params.train, steps=12, batch_size=8, log_every=3)

    def fresh_model():
        return lora_model(params, 3, 4, 0.1)

    straight = fresh_model()
    straight_log = loop.train(straight, encoded, recipe, 3, torch.device("cpu"), "t")

    original_call = loop.EagerStep.__call__

    def dies_at_step_8(self, i, lr):
        if i == 8:
            raise KeyboardInterrupt("killed")
        return original_call(self, i, lr)

    checkpoint = Checkpoint("t", "k", every=5)
    monkeypatch.setattr(loop.EagerStep, "__call__", dies_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        loop.train(fresh_model(), encoded, recipe, 3, torch.device("cpu"), "t", checkpoint)
    assert (checkpoint.folder / "meta.json").is_file()
    monkeypatch.setattr(loop.EagerStep, "__call__", original_call)
    resumed = fresh_model()
    resumed_log = loop.train(resumed, encoded, recipe, 3, torch.device("cpu"), "t", checkpoint)
    assert resumed_log == straight_log
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if "lora_" in k or "modules_to_save" in k)
    assert not checkpoint.folder.exists()
