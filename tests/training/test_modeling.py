import pytest
import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification

from rankcert.config.params import ModelParams, RuntimeParams
from rankcert.runtime.errors import RankcertError
from rankcert.training import modeling

DISTILBERT = ModelParams(name="unused", target_modules=["q_lin", "k_lin", "v_lin", "out_lin"],
                         head_modules=["pre_classifier", "classifier"], num_labels=2, max_length=128)


@pytest.fixture(scope="module")
def base_state():
    """distilbert-base-uncased shapes (DistilBertConfig() defaults), random weights, no download."""
    torch.manual_seed(0)
    return DistilBertForSequenceClassification(DistilBertConfig(num_labels=2)).state_dict()


def fresh(base_state):
    model = DistilBertForSequenceClassification(DistilBertConfig(num_labels=2))
    model.load_state_dict(base_state)
    return model


@pytest.mark.parametrize("rank,expected", [(32, 1_771_778), (24, 1_476_866), (20, 1_329_410), (16, 1_181_954)])
def test_trainable_parameters_match_spec_table(base_state, rank, expected):
    model = fresh(base_state)
    modules = modeling.target_module_names(model, DISTILBERT.target_modules)
    assert len(modules) == 24
    lora = modeling.add_lora(model, DISTILBERT, {m: rank for m in modules}, dropout=0.0)
    assert modeling.trainable_parameters(lora) == expected


def test_mixed_plan_builds_exactly_the_planned_shapes(base_state):
    model = fresh(base_state)
    modules = modeling.target_module_names(model, DISTILBERT.target_modules)
    plan = {m: [2, 4, 8, 16, 20, 24, 32][i % 7] for i, m in enumerate(modules)}
    lora = modeling.add_lora(model, DISTILBERT, plan, dropout=0.0)
    assert modeling.lora_shapes(lora) == {m: (r, r) for m, r in plan.items()}
    expected = sum(r * (768 + 768) for r in plan.values()) + 592_130
    assert modeling.trainable_parameters(lora) == expected


def test_shape_check_catches_a_plan_the_adapter_does_not_follow(base_state):
    model = fresh(base_state)
    modules = modeling.target_module_names(model, DISTILBERT.target_modules)
    lora = modeling.add_lora(model, DISTILBERT, {m: 8 for m in modules}, dropout=0.0)
    plan = {m: 8 for m in modules}
    plan[modules[3]] = 4
    with pytest.raises(RankcertError, match="rank .8, 8. at .*the plan says 4"):
        modeling.verify_lora_shapes(lora, plan)


def test_plan_with_unknown_module_is_refused(base_state):
    model = fresh(base_state)
    modules = modeling.target_module_names(model, DISTILBERT.target_modules)
    plan = {m: 8 for m in modules}
    plan["distilbert.transformer.layer.9.attention.q_lin"] = 8
    with pytest.raises(RankcertError, match="don't exist in the model"):
        modeling.add_lora(model, DISTILBERT, plan, dropout=0.0)


def test_target_modules_that_match_nothing_list_real_names(base_state):
    with pytest.raises(RankcertError, match=r"\['query'\] match no Linear or Conv1D module.*q_lin"):
        modeling.target_module_names(fresh(base_state), ["query"])


def test_bert_style_dotted_targets_match():
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                     intermediate_size=64, vocab_size=50))
    names = modeling.target_module_names(model, ["query", "key", "value", "attention.output.dense"])
    assert len(names) == 8 and all("intermediate" not in n for n in names)


def test_gpt2_conv1d_layers_take_lora_and_a_mix_of_kinds_is_refused():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    model = GPT2ForSequenceClassification(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=16, vocab_size=50))
    params = ModelParams("unused", ["c_attn", "c_proj"], ["score"], 2, 16)
    modules = modeling.target_module_names(model, params.target_modules)
    assert len(modules) == 6  # c_attn, attn.c_proj and mlp.c_proj in each layer
    lora = modeling.add_lora(model, params, {m: 4 for m in modules}, dropout=0.0)
    assert lora.peft_config["default"].fan_in_fan_out
    assert modeling.lora_shapes(lora)["transformer.h.0.attn.c_attn"] == (4, 4)
    fresh_model = GPT2ForSequenceClassification(model.config)
    mixed = ModelParams("unused", ["c_attn", "score"], [], 2, 16)
    plan = {m: 4 for m in modeling.target_module_names(fresh_model, mixed.target_modules)}
    with pytest.raises(RankcertError, match="mix Linear and Conv1D layers"):
        modeling.add_lora(fresh_model, mixed, plan, dropout=0.0)


def test_missing_local_model_dir_is_one_clear_line(tmp_path):
    params = ModelParams(str(tmp_path / "nope"), ["q_lin"], ["classifier"], 2, 32)
    with pytest.raises(RankcertError, match="is not a directory"):
        modeling.load_base_model(params)


def test_hub_id_while_offline_points_at_the_parameter(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = ModelParams("distilbert-base-uncased-not-cached", ["q_lin"], ["classifier"], 2, 32)
    with pytest.raises(RankcertError, match="set model.name to a local model directory"):
        modeling.load_base_model(params)


def test_saved_adapter_round_trips_through_peft(demo_params_obj, tmp_path):
    p = demo_params_obj
    modeling.seed_everything(1)
    base = modeling.load_base_model(p.model)
    modules = modeling.target_module_names(base, p.model.target_modules)
    model = modeling.add_lora(base, p.model, {m: 4 for m in modules}, dropout=0.0)
    modeling.save_adapter(model, tmp_path / "adapter")
    assert {f.name for f in (tmp_path / "adapter").iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    loaded = modeling.load_adapter(modeling.load_base_model(p.model), tmp_path / "adapter")
    assert modeling.lora_shapes(loaded) == {m: (4, 4) for m in modules}
    with pytest.raises(RankcertError, match="no adapter_model.safetensors"):
        modeling.load_adapter(modeling.load_base_model(p.model), tmp_path)


@pytest.mark.parametrize("threads", [0, -2])
def test_cpu_threads_below_one_is_refused(threads):
    with pytest.raises(RankcertError, match="runtime.cpu_threads must be null or a whole number of at least 1"):
        RuntimeParams("auto", True, threads)
