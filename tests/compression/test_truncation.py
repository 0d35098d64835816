"""No-retrain truncation: the best low-rank approximation of the probe's update, in a loadable PEFT adapter."""
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from rankcert.compression import truncation
from rankcert.config.params import params_from_dict
from rankcert.config.variants import PlanInputs, parse_variant
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from rankcert.training import modeling, spectra
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
    scales = {"l.0.q": 2.0, "l.0.v": 2.0}
    out = truncation.truncate_weights(weights, {"l.0.q": 1, "l.0.v": 2}, scales)
    assert out["base_model.model.l.0.q.lora_A.weight"].shape == (1, 6)
    assert out["base_model.model.l.0.v.lora_B.weight"].shape == (5, 2)
    assert torch.equal(out["base_model.model.classifier.weight"],
                       weights["base_model.model.classifier.weight"])
    with pytest.raises(RankcertError, match="differ from the plan"):
        truncation.truncate_weights(weights, {"l.0.q": 1}, scales)
    with pytest.raises(RankcertError, match="asks rank 5 at l.0.v, above the probe adapter's rank 4 there: a cut "
                                            "cannot add rank"):  # e.g. an imported adapter of a smaller rank
        truncation.truncate_weights(weights, {"l.0.q": 1, "l.0.v": 5}, scales)


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


# Beside the anchors: PEFT's own SVD cut (peft.convert_to_lora, 0.19+) of the same adapter. It cuts the full
# ΔW in float32 and puts σ in B; rankcert cuts the r×r core in float64 and splits √σ to each side, so the
# factors differ by design and their products (the update the model applies) must agree. At an energy
# threshold PEFT keeps each module's raw energy rank; rankcert rounds it up to compress.allowed_ranks.
try:
    from peft import convert_to_lora
except ImportError:  # PEFT before 0.19
    convert_to_lora = None
needs_peft_cut = pytest.mark.skipif(convert_to_lora is None, reason="this PEFT has no convert_to_lora")
PROBE_RANK, PROBE_ALPHA = 8, 16.0


def _random_adapter(model_params, folder):
    """A LoRA adapter at rank 8 (alpha 16) with random factors and head, saved; (the PEFT model, its weights)."""
    modeling.seed_everything(0)
    base = modeling.load_base_model(model_params)
    modules = modeling.target_module_names(base, model_params.target_modules)
    model = modeling.add_lora(base, model_params, {m: PROBE_RANK for m in modules}, 0.0,
                              {m: PROBE_ALPHA for m in modules})
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:  # LoRA B starts at zero: give every trained tensor random values
                param.copy_(torch.randn(param.shape, generator=g) / param.shape[-1] ** 0.5)
            if ".lora_A." in name:  # spectra that decay at different rates, so energy ranks differ by module
                param.mul_(torch.exp(-torch.arange(PROBE_RANK) * (0.2 + torch.rand(1, generator=g)))[:, None])
    modeling.save_adapter(model, folder)
    return model, modeling.read_adapter_weights(folder)


def _updates(weights):
    """Module -> B·A (float64) of saved-format LoRA weights."""
    return {m: weights[k["lora_B"]].double() @ weights[k["lora_A"]].double()
            for m, k in modeling.lora_modules(weights).items()}


def _assert_same_cut(ours, theirs):
    assert set(ours) == set(theirs)  # the same LoRA and head keys
    mine, peft = _updates(ours), _updates(theirs)
    for module, update in mine.items():
        assert update.shape == peft[module].shape
        assert torch.allclose(update, peft[module], atol=1e-5 * float(update.abs().max()), rtol=1e-4), module
    for key in set(ours) - {k for keys in modeling.lora_modules(ours).values() for k in keys.values()}:
        assert torch.equal(ours[key], theirs[key]), key  # the head as trained


@pytest.fixture(params=["demo", "gpt2"])
def adapter_of(request, demo_params_obj, decoder_assets, tmp_path):
    """A random adapter on the tiny DistilBERT (Linear layers) or the tiny GPT-2 (Conv1D layers)."""
    if request.param == "demo":
        model_params = demo_params_obj.model
    else:
        model_params = params_from_dict(demo.demo_params(str(decoder_assets / "gpt2"), "gpt2")).model
    return _random_adapter(model_params, tmp_path / "adapter")


@needs_peft_cut
@pytest.mark.parametrize("rank", [2, 5])
def test_truncation_equals_peft_convert_to_lora_at_a_fixed_rank(adapter_of, rank):
    model, weights = adapter_of
    plan = {m: rank for m in modeling.lora_modules(weights)}
    with pytest.warns(UserWarning, match="already a LoRA adapter"):
        _, theirs = convert_to_lora(model, rank)
    _assert_same_cut(truncation.truncate_weights(weights, plan, {m: PROBE_ALPHA / PROBE_RANK for m in plan}), theirs)


@needs_peft_cut
def test_truncation_at_an_energy_threshold_equals_peft_when_every_rank_is_allowed(adapter_of, tmp_path):
    model, weights = adapter_of
    with pytest.warns(UserWarning, match="already a LoRA adapter"):
        config, theirs = convert_to_lora(model, 0.9)
    scales = {m: PROBE_ALPHA / PROBE_RANK for m in modeling.lora_modules(weights)}
    factors = modeling.read_lora_factors(tmp_path / "adapter")
    found = {s.module: s.singular_values for s in spectra.adapter_spectra(factors, scales)}
    per_layer = parse_variant("per_layer")

    def plan(allowed):
        return per_layer.plan(PlanInputs(list(scales), found, 0.9, allowed, PROBE_RANK))

    every_rank = plan(list(range(1, PROBE_RANK + 1)))
    assert every_rank == config.rank_pattern and len(set(every_rank.values())) > 1
    _assert_same_cut(truncation.truncate_weights(weights, every_rank, scales), theirs)
    # with the canonical allowed ranks rankcert keeps more: each module's energy rank rounded up
    allowed = [2, 4, 8]
    assert plan(allowed) == {m: min(r for r in allowed if r >= k) for m, k in config.rank_pattern.items()}
