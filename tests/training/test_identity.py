"""Who an adapter is: its run record against the folder it is read from (location, files, ranks, base model)."""
import dataclasses
import json
import shutil

import pytest

from rankcert.config import records
from rankcert.config.params import load_params
from rankcert.config.records import AdapterRun, Manifest
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT, PROBE
from rankcert.training import identity
from stages import compress, evaluate, prepare, probe
from tests.helpers import PROJECT, stand_in_training, write_stand_in_run
from tests.stages.test_stage_errors import run_stage, write_params

BASE = "0" * 64
MODULES = ["layer.0.q_lin", "layer.0.v_lin", "layer.1.q_lin"]


def write_run(root, seed, name, ranks, base=BASE):
    """A stand-in adapter folder (config with these ranks, some weights bytes) and its run record."""
    adapter = root / LAYOUT.adapter(seed, name)
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"r": max(ranks.values()), "rank_pattern": ranks, "target_modules": sorted(ranks)}))
    (adapter / "adapter_model.safetensors").write_bytes(f"{seed}:{name}".encode())
    write_stand_in_run(adapter.parent, name, seed, base, stand_in_training(load_params(PROJECT / "params.yaml"), seed))
    return adapter.parent


def refusal(run, seed, name, base=BASE) -> str:
    with pytest.raises(RankcertError) as err:
        identity.verified_run(run, seed, name, base)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.fixture
def two_variants(tmp_path):
    runs = {name: write_run(tmp_path, 42, name, dict.fromkeys(MODULES, rank))
            for name, rank in (("uniform_r20", 20), ("uniform_r16", 16), ("per_layer", 8))}
    return tmp_path, runs


def test_a_run_in_its_place_is_verified_and_its_record_names_who_it_is(two_variants):
    root, runs = two_variants
    for name, run in runs.items():
        assert identity.verified_run(run, 42, name, BASE).adapter_sha256 == identity.adapter_digest(run / "adapter")
    record = json.loads((runs["uniform_r16"] / "run.json").read_text())
    assert (record["adapter"], record["seed"], record["base_model"]) == ("uniform_r16", 42, BASE)
    assert record["ranks"] == dict.fromkeys(MODULES, 16)


def test_swapped_folders_are_refused_naming_the_folder_and_what_it_claims(two_variants):
    root, runs = two_variants
    variants = root / "data" / "variants" / "42"
    (variants / "uniform_r20").rename(variants / "swap")
    (variants / "uniform_r16").rename(variants / "uniform_r20")
    (variants / "swap").rename(variants / "uniform_r16")
    assert refusal(variants / "uniform_r20", 42, "uniform_r20") == (
        f"{variants / 'uniform_r20'} should hold 'uniform_r20' of seed 42 but it claims to be 'uniform_r16' of seed "
        "42: folders were swapped, moved or copied; `dvc checkout` or `dvc repro` puts each back")
    assert "of seed 42" in refusal(runs["per_layer"], 7, "per_layer")  # another seed's folder


def test_a_record_edited_to_match_its_new_place_is_refused(two_variants):
    _, runs = two_variants
    record = json.loads((runs["uniform_r16"] / "run.json").read_text())
    (runs["uniform_r16"] / "run.json").write_text(json.dumps(dict(record, adapter="per_layer")))
    assert "run.json was edited after its stage wrote it (it claims to be 'per_layer' of seed 42" in refusal(
        runs["uniform_r16"], 42, "per_layer")


def test_a_config_or_adapter_copied_from_another_variant_is_refused(two_variants):
    _, runs = two_variants
    shutil.copy(runs["uniform_r16"] / "adapter" / "adapter_config.json", runs["uniform_r20"] / "adapter")
    message = refusal(runs["uniform_r20"], 42, "uniform_r20")
    assert "uniform_r20/adapter is not the adapter its stage wrote (it claims to be 'uniform_r20' of seed 42" in message
    shutil.rmtree(runs["per_layer"] / "adapter")
    shutil.copytree(runs["uniform_r16"] / "adapter", runs["per_layer"] / "adapter")
    assert "per_layer/adapter is not the adapter its stage wrote" in refusal(runs["per_layer"], 42, "per_layer")


def test_a_uniform_variant_must_have_the_rank_its_name_says(tmp_path):
    run = write_run(tmp_path, 42, "uniform_r20", dict(dict.fromkeys(MODULES, 20), **{MODULES[0]: 16}))
    assert "'uniform_r20' means rank 20 everywhere, but its adapter has ranks r16×1, r20×2" in refusal(
        run, 42, "uniform_r20")
    truncated = write_run(tmp_path, 42, "truncated_uniform_r4", dict.fromkeys(MODULES, 2))
    assert "means rank 4 everywhere" in refusal(truncated, 42, "truncated_uniform_r4")


def test_an_adapter_for_another_base_and_an_old_record_are_refused(two_variants):
    _, runs = two_variants
    assert f"trained on base model {BASE}, but model.name is {'1' * 64}: an adapter for another base" in refusal(
        runs["per_layer"], 42, "per_layer", "1" * 64)
    (runs["per_layer"] / "run.json").write_text(json.dumps({"seed": 42, "adapter_sha256": "x"}))
    assert ("run.json is not the adapter run record this rankcert writes (missing key 'adapter': written by another "
            "version, or edited); rerun its stage (dvc repro)") in refusal(runs["per_layer"], 42, "per_layer")
    (runs["per_layer"] / "run.json").write_text("[1, 2")
    assert "run.json is not JSON" in refusal(runs["per_layer"], 42, "per_layer")


def test_the_base_identity_is_the_local_folders_content_or_the_hub_id_at_its_revision(tmp_path, demo_params_obj):
    from dataclasses import replace

    local = identity.base_model(demo_params_obj.model)
    assert len(local) == 64 and not local.startswith("hub:")
    assert identity.base_model(replace(demo_params_obj.model, name="org/model", revision="abc")) == "hub:org/model@abc"
    changed = tmp_path / "model"
    shutil.copytree(demo_params_obj.model.name, changed)
    (changed / "config.json").write_text((changed / "config.json").read_text().replace("}", ', "extra": 1}', 1))
    assert identity.base_model(replace(demo_params_obj.model, name=str(changed))) != local


@pytest.fixture
def truncated_pair(tmp_path, raw_params, monkeypatch):
    """A 2-step probe and two variants cut from it (no training) in tmp_path, with the real tiny model."""
    monkeypatch.chdir(tmp_path)
    raw_params["train"].update(steps=2, log_every=1)
    raw_params["variants"] = ["truncated_uniform_r2", "truncated_uniform_r4"]
    write_params(tmp_path, raw_params)
    for stage in (prepare, probe, compress):
        stage.main(["--seed", "1"])
    return tmp_path, raw_params


def test_evaluate_refuses_swapped_variant_folders_of_the_real_pipeline(truncated_pair, capsys):
    root, _ = truncated_pair
    record = json.loads((LAYOUT.run(1, "truncated_uniform_r4") / "run.json").read_text())
    assert set(record["ranks"].values()) == {4} and record["adapter"] == "truncated_uniform_r4"
    variants = LAYOUT.variants(1)
    (variants / "truncated_uniform_r2").rename(variants / "swap")
    (variants / "truncated_uniform_r4").rename(variants / "truncated_uniform_r2")
    (variants / "swap").rename(variants / "truncated_uniform_r4")
    code, err = run_stage(evaluate, ["--seed", "1"], capsys)
    assert code == 2 and "\n" not in err
    assert ("data/variants/1/truncated_uniform_r2 should hold 'truncated_uniform_r2' of seed 1 but it claims to be "
            "'truncated_uniform_r4' of seed 1") in err
    assert not LAYOUT.predictions_folder(1).exists() and not LAYOUT.eval_metrics_folder(1).exists()


def test_evaluate_and_compress_refuse_adapters_of_another_base(truncated_pair, capsys):
    root, raw_params = truncated_pair
    other = root / "other-model"
    shutil.copytree(raw_params["model"]["name"], other)
    (other / "config.json").write_text((other / "config.json").read_text().replace("}", ', "extra": 1}', 1))
    raw_params["model"]["name"] = str(other)
    write_params(root, raw_params)
    code, err = run_stage(evaluate, ["--seed", "1"], capsys)
    assert code == 2 and "data/probe/1: it claims to be 'probe' of seed 1, trained on base model" in err
    assert "an adapter for another base" in err and not LAYOUT.predictions_folder(1).exists()
    code, err = run_stage(compress, ["--seed", "1"], capsys)  # it truncates the probe's update: the same check
    assert code == 2 and "an adapter for another base" in err


def test_a_run_record_states_the_training_its_weights_had_and_its_hash_covers_it(truncated_pair, capsys):
    probe = records.read(LAYOUT.run(1, PROBE) / "run.json", AdapterRun)
    manifest = records.read(LAYOUT.prepared(1) / "manifest.json", Manifest)
    assert (probe.training.source, probe.training.steps, probe.training.recipe.steps) == ("trained", 2, 2)
    assert (probe.training.examples, probe.training.data_fingerprint) == (manifest.train.rows,
                                                                          manifest.train.fingerprint)
    cut = records.read(LAYOUT.run(1, "truncated_uniform_r4") / "run.json", AdapterRun)
    assert cut.training == dataclasses.replace(probe.training, source="truncated")  # the probe's training, cut
    path = LAYOUT.run(1, PROBE) / "run.json"
    path.write_text(path.read_text().replace('"steps": 2', '"steps": 500'))  # a hand edit of what ran
    code, err = run_stage(evaluate, ["--seed", "1"], capsys)
    assert code == 2 and "data/probe/1/run.json was edited after its stage wrote it (it claims to be 'probe' of " \
        "seed 1, but its record_sha256 doesn't cover that)" in err
