"""A user's own adapter in the probe's place (params probe.adapter): what is refused, each in one line, and what
an accepted one becomes (the probe's run, its files as they are; cuts of its own update at its own scale)."""
from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from rankcert.config.params import params_from_dict
from rankcert.config.records import IMPORTED, TRAINED
from rankcert.inputs.sources import adapter_digest
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from rankcert.training import identity, imported, modeling
from rankcert.validation import check_inputs
from stages import compress, probe, track
from tests.helpers import PROJECT

RANK, ALPHA = 32, 64.0  # scale alpha/r = 2: a cut must read the update at the adapter's own scale


def user_adapter(folder, model_dir, num_labels=2, targets=("q_lin", "k_lin", "v_lin", "out_lin"),
                 heads=("pre_classifier", "classifier"), **config):
    """A PEFT adapter saved as a user would (save_pretrained), with random factors (init_lora_weights=False)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=num_labels)
    model = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=list(targets),
                                            modules_to_save=list(heads) if heads else None, task_type="SEQ_CLS",
                                            init_lora_weights=False))
    model.save_pretrained(str(folder))
    if config:
        edit_config(folder, **config)
    return folder


def edit_config(folder, **changes):
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.fixture(scope="module")
def adapter(demo_assets, tmp_path_factory):
    return user_adapter(tmp_path_factory.mktemp("user") / "adapter", demo_assets / "model",
                        base_model_name_or_path=str(demo_assets / "model"))


def adapter_params(raw_params, folder, **probe_changes):
    raw_params["probe"].update({"adapter": str(folder), "rank": RANK, "alpha": ALPHA, **probe_changes})
    raw_params["seeds"] = [42]
    raw_params["inputs"]["adapter"] = str(folder)
    return raw_params


@pytest.fixture
def workspace(tmp_path, raw_params, adapter, monkeypatch):
    """A folder with params importing a copy of `adapter` and its track record, as the first stages leave it."""
    mine = tmp_path / "mine"
    shutil.copytree(adapter, mine)
    raw = adapter_params(raw_params, mine)
    raw["variants"] = ["truncated_uniform_r4", "truncated_per_layer"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    track.main(["--source", str(mine), "--out", "data/inputs/adapter.json"])
    return mine


def test_params_without_an_adapter_train_the_probe_and_one_seed_comes_with_one():
    assert params_from_dict(yaml.safe_load((PROJECT / "params.yaml").read_text())).probe.adapter is None
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    assert params_from_dict(adapter_params(raw, "x")).probe.adapter == "x"


@pytest.mark.parametrize("change,message", [
    ({"peft_type": "IA3"}, "is a IA3 adapter, not LoRA (its adapter_config.json peft_type)"),
    ({"use_dora": True}, "is a DoRA adapter (use_dora): its update is not B·A alone"),
    ({"bias": "all"}, "trains biases (bias 'all'"),
    ({"target_modules": "q_lin|v_lin"}, "its target_modules is 'q_lin|v_lin', not a list of module names"),
    ({"base_model_name_or_path": "bert-base-uncased"}, "was trained on base model 'bert-base-uncased' (its "
     "adapter_config.json base_model_name_or_path), but model.name is"),
    ({"r": 8}, "has rank 8 and alpha 64.0, but params say probe.rank 32 and probe.alpha 64.0: set them to the "
     "adapter's"),
])
def test_validate_refuses_an_adapter_that_is_not_plain_lora_for_this_base_at_the_stated_rank(
        tmp_path, raw_params, adapter, monkeypatch, change, message):
    mine = tmp_path / "mine"
    shutil.copytree(adapter, mine)
    edit_config(mine, **change)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").symlink_to(PROJECT / "policies")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(adapter_params(raw_params, mine)))
    with pytest.raises(RankcertError) as err:
        check_inputs(tmp_path / "params.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_validate_accepts_the_adapter_and_asks_that_it_be_tracked(tmp_path, raw_params, adapter, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").symlink_to(PROJECT / "policies")
    raw = adapter_params(raw_params, adapter)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    check_inputs(tmp_path / "params.yaml")
    del raw["inputs"]["adapter"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RankcertError, match="probe.adapter .* is a local folder that DVC doesn't track; add it to"):
        check_inputs(tmp_path / "params.yaml")
    (tmp_path / "empty").mkdir()
    raw["probe"]["adapter"] = raw["inputs"]["adapter"] = "empty"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RankcertError, match="probe.adapter empty has no adapter_config.json: point it at a PEFT"):
        check_inputs(tmp_path / "params.yaml")


def test_ranks_above_the_adapters_are_refused_before_anything_runs(raw_params, adapter):
    """probe.rank must state the adapter's rank (validate, above), and nothing may ask more than probe.rank."""
    raw = adapter_params(raw_params, adapter)
    raw["variants"] = ["truncated_uniform_r48"]
    with pytest.raises(RankcertError, match=r"variant truncated_uniform_r48: rank must be in 1..probe.rank \(32\)"):
        params_from_dict(raw)
    raw["variants"], raw["compress"]["allowed_ranks"] = ["truncated_per_layer"], [2, 4, 8, 16, 32, 64]
    with pytest.raises(RankcertError, match=r"compress.allowed_ranks \[2, 4, 8, 16, 32, 64\] go above probe.rank 32"):
        params_from_dict(raw)


def _shapes_refusal(folder, model_params) -> str:
    modeling.seed_everything(0)
    base = modeling.load_base_model(model_params)
    modules = modeling.target_module_names(base, model_params.target_modules)
    with pytest.raises(RankcertError) as err:
        imported.check_shapes(folder, base, modules, model_params)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_an_adapter_for_another_base_is_refused_by_its_shapes(tmp_path, demo_params_obj, decoder_assets):
    from transformers import DistilBertConfig, DistilBertModel

    narrow = tmp_path / "narrow"  # the same module names, another width
    DistilBertModel(DistilBertConfig(vocab_size=80, dim=32, n_layers=2, n_heads=4, hidden_dim=64)).save_pretrained(narrow)
    user_adapter(tmp_path / "a", narrow)
    assert "at distilbert.transformer.layer.0.attention.k_lin: A [32, 32], B [32, 32] don't fit the base's layer " \
           "(64 in, 64 out): an adapter for another base model" in _shapes_refusal(tmp_path / "a", demo_params_obj.model)
    user_adapter(tmp_path / "b", decoder_assets / "llama" / "model", targets=("q_proj", "v_proj"), heads=("score",))
    assert "adapts layers this base model doesn't have (e.g. model.layers.0.self_attn.q_proj): an adapter for " \
           "another base model" in _shapes_refusal(tmp_path / "b", demo_params_obj.model)


@pytest.mark.parametrize("kwargs,message", [
    ({"num_labels": 3}, "its head weight classifier.bias is [3], this base model's is [2] (model.num_labels 2)"),
    ({"heads": ("classifier",)}, "holds a trained head ['classifier', 'pre_classifier'] (what its modules_to_save "
     "saved), but model.head_modules is ['classifier']: set model.head_modules to the adapter's"),
    ({"targets": ("q_lin", "v_lin")}, "adapts other layers than model.target_modules"),
])
def test_an_adapter_whose_head_or_targets_differ_from_the_params_is_refused(tmp_path, demo_params_obj, demo_assets,
                                                                          kwargs, message):
    """(PEFT adds `classifier` to a SEQ_CLS adapter's modules_to_save and matches names by suffix, so it saves
    pre_classifier too whatever the user names: the params must say so.)"""
    user_adapter(tmp_path / "a", demo_assets / "model", **kwargs)
    model = demo_params_obj.model
    if "heads" in kwargs:
        model = dataclasses.replace(model, head_modules=["classifier"])
    assert message in _shapes_refusal(tmp_path / "a", model)


def test_the_adapter_takes_the_probes_place_as_is_and_its_cuts_are_of_its_own_update(workspace):
    probe.main(["--seed", "42"])
    run = json.loads((LAYOUT.probe(42) / "run.json").read_text())
    assert run["training"] == {"source": IMPORTED} and run["ranks"] == {m: RANK for m in ("k_lin", "out_lin", "q_lin", "v_lin")}
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # its bytes: the certificate names its hash
        assert (LAYOUT.adapter(42, "probe") / name).read_bytes() == (workspace / name).read_bytes()
    assert identity.verified_run(LAYOUT.probe(42), 42, "probe", run["base_model"]).adapter_sha256 == adapter_digest(workspace)
    assert (LAYOUT.probe(42) / "train_log.csv").read_text() == "step,loss,lr\n"  # nothing was trained
    theirs = load_file(workspace / "adapter_model.safetensors")
    updates = {m: ALPHA / RANK * theirs[k["lora_B"]].double() @ theirs[k["lora_A"]].double()
               for m, k in modeling.lora_modules(theirs).items()}
    found = json.loads((LAYOUT.probe(42) / "spectra.json").read_text())["modules"]
    for module, update in updates.items():
        assert found[module]["singular_values"] == pytest.approx(torch.linalg.svdvals(update)[:RANK].tolist(), rel=1e-9)

    compress.main(["--seed", "42"])
    cut = load_file(LAYOUT.adapter(42, "truncated_uniform_r4") / "adapter_model.safetensors")
    for module, keys in modeling.lora_modules(cut).items():
        u, s, vh = torch.linalg.svd(updates[module])
        best = (u[:, :4] * s[:4]) @ vh[:4]  # alpha = r in the cut: PEFT applies B·A as is
        assert torch.allclose(cut[keys["lora_B"]].double() @ cut[keys["lora_A"]].double(), best, atol=1e-5)
    assert all(torch.equal(cut[k], theirs[k]) for k in theirs if "classifier" in k)  # the head as the user trained it


def test_a_file_changed_after_it_was_tracked_is_refused_and_nothing_is_replaced(workspace):
    probe.main(["--seed", "42"])
    before = (LAYOUT.probe(42) / "run.json").read_bytes()
    weights = workspace / "adapter_model.safetensors"
    content = bytearray(weights.read_bytes())
    content[-3] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(content))
    with pytest.raises(RankcertError) as err:
        probe.main(["--seed", "42"])
    assert f"{weights} is not the file track@adapter recorded" in str(err.value)
    assert "it changed after DVC tracked it; restore it, or `dvc repro` tracks and certifies the new bytes" in str(err.value)
    assert (LAYOUT.probe(42) / "run.json").read_bytes() == before
    LAYOUT.tracked("adapter").unlink()
    with pytest.raises(RankcertError, match="adapter.json not found; the adapter's bytes were never recorded: run "
                                            "`dvc repro track@adapter` first"):
        probe.main(["--seed", "42"])


def test_an_edited_source_in_the_run_record_is_refused(workspace):
    probe.main(["--seed", "42"])
    path = LAYOUT.probe(42) / "run.json"
    run = json.loads(path.read_text())
    path.write_text(json.dumps(dict(run, training={"source": TRAINED})))  # an imported adapter passed off as trained here
    with pytest.raises(RankcertError, match="run.json was edited after its stage wrote it"):
        identity.verified_run(LAYOUT.probe(42), 42, "probe", run["base_model"])


def test_the_demo_profile_names_an_adapter_the_demo_trains_first():
    params = params_from_dict(demo.demo_params("assets", "adapter"))
    assert params.probe.adapter == params.inputs["adapter"] == "assets/adapter" and params.seeds == [42]
    assert any(not v.retrained for v in params.variants) and any(v.retrained for v in params.variants)
