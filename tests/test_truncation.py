"""No-retrain truncation: the best low-rank approximation of the probe's update, in a loadable PEFT adapter."""
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from rankcert import truncation
from rankcert.errors import RankcertError
from rankcert.layout import LAYOUT
from stages import compress, evaluate, prepare, probe


@pytest.mark.parametrize("rank", [1, 3, 8])
def test_truncated_product_is_the_best_rank_k_approximation(rank):
    g = torch.Generator().manual_seed(rank)
    a, b, scale = torch.randn(8, 30, generator=g), torch.randn(20, 8, generator=g), 0.75
    new_a, new_b = truncation.truncated_factors(a, b, scale, rank)
    assert new_a.shape == (rank, 30) and new_b.shape == (20, rank) and new_a.dtype == a.dtype
    u, s, vh = torch.linalg.svd(scale * b.double() @ a.double())
    best = (u[:, :rank] * s[:rank]) @ vh[:rank]
    assert torch.allclose(new_b.double() @ new_a.double(), best, atol=1e-5)
    # balanced: each factor carries √σ
    assert torch.allclose(torch.linalg.norm(new_a.double(), dim=1), s[:rank].sqrt(), rtol=1e-5)


def test_truncation_to_a_larger_rank_than_the_update_is_refused():
    with pytest.raises(RankcertError, match="cannot truncate a rank-4 update to rank 5"):
        truncation.truncated_factors(torch.ones(4, 6), torch.ones(5, 4), 1.0, 5)


def test_truncate_weights_keeps_the_head_and_cuts_each_module_to_its_plan():
    g = torch.Generator().manual_seed(0)
    weights = {"base_model.model.l.0.q.lora_A.weight": torch.randn(4, 6, generator=g),
               "base_model.model.l.0.q.lora_B.weight": torch.randn(5, 4, generator=g),
               "base_model.model.l.0.v.lora_A.weight": torch.randn(4, 6, generator=g),
               "base_model.model.l.0.v.lora_B.weight": torch.randn(5, 4, generator=g),
               "base_model.model.classifier.weight": torch.randn(2, 5, generator=g)}
    out = truncation.truncate_weights(weights, {"l.0.q": 1, "l.0.v": 2}, 2.0)
    assert out["base_model.model.l.0.q.lora_A.weight"].shape == (1, 6)
    assert out["base_model.model.l.0.v.lora_B.weight"].shape == (5, 2)
    assert torch.equal(out["base_model.model.classifier.weight"],
                       weights["base_model.model.classifier.weight"])
    with pytest.raises(RankcertError, match="differ from the plan"):
        truncation.truncate_weights(weights, {"l.0.q": 1}, 2.0)


def test_truncating_the_probe_to_its_own_rank_predicts_exactly_as_the_probe(tmp_path, raw_params, monkeypatch):
    """The end-to-end check of the format: LoRA factors re-split by SVD and the probe's head copied into a
    PEFT adapter that evaluate loads; at the probe's rank nothing is cut, so predictions must not change."""
    raw_params["train"].update(steps=30, log_every=10)
    raw_params["probe"].update(rank=4, alpha=8)
    raw_params["compress"]["allowed_ranks"] = [2, 4]
    raw_params["variants"] = ["truncated_uniform_r4", "truncated_uniform_r2", "truncated_per_layer"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    for stage in (prepare, probe, compress, evaluate):
        stage.main(["--seed", "7"])
    assert pd.read_csv(LAYOUT.predictions(7, "truncated_uniform_r4")).equals(pd.read_csv(LAYOUT.predictions(7, "probe")))
    cut = load_file(LAYOUT.adapter(7, "truncated_uniform_r2") / "adapter_model.safetensors")
    assert {t.shape[0] for k, t in cut.items() if ".lora_A." in k} == {2}
    head = [k for k in cut if "classifier" in k]
    probe_weights = load_file(LAYOUT.adapter(7, "probe") / "adapter_model.safetensors")
    assert head and all(torch.equal(cut[k], probe_weights[k]) for k in head)
    plan = yaml.safe_load(open(LAYOUT.run(7, "truncated_per_layer") / "plan.json"))
    assert plan["kind"] == "truncated" and set(plan["ranks"].values()) <= {2, 4}
    assert open(LAYOUT.run(7, "truncated_uniform_r2") / "train_log.csv").read() == "step,loss,lr\n"
