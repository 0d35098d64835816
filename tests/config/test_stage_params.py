"""The per-seed stages' params files: each declared key's value as params.yaml holds it, and one line when missing."""
from __future__ import annotations

import json

import pytest

from rankcert.config.stage_params import SEED_STAGE_PARAMS, check_current, lookup, stage_params
from rankcert.runtime.errors import RankcertError


def test_a_dotted_key_reads_the_nested_value_and_a_section_whole(raw_params):
    assert lookup(raw_params, "model.name") == raw_params["model"]["name"]
    assert lookup(raw_params, "train") == raw_params["train"]


def test_a_missing_key_is_one_line_naming_it(raw_params):
    del raw_params["model"]["max_length"]
    with pytest.raises(RankcertError, match=r"^params.yaml has no model.max_length: restore it") as err:
        stage_params(raw_params, "prepare")
    assert "\n" not in str(err.value)


def test_every_declared_key_is_in_its_file_and_the_stages_are_the_per_seed_ones(raw_params):
    assert list(SEED_STAGE_PARAMS) == ["prepare", "probe", "compress", "evaluate"]
    for stage, keys in SEED_STAGE_PARAMS.items():
        written = stage_params(raw_params, stage)
        assert written["stage"] == stage and list(written["params"]) == list(keys)
    assert stage_params(raw_params, "probe")["params"]["train"] == raw_params["train"]


def test_a_stale_params_file_refuses_the_stage_and_a_current_or_missing_one_lets_it_run(raw_params, tmp_path):
    written = tmp_path / "probe.json"
    check_current(raw_params, "probe", written)  # not run by DVC: nothing to compare with
    written.write_text(json.dumps(stage_params(raw_params, "probe")))
    check_current(raw_params, "probe", written)
    raw_params["train"]["lr"] *= 2
    raw_params["data"]["train_size"] += 1  # not probe's: not named
    with pytest.raises(RankcertError, match=r"^params.yaml changed since validate wrote .*probe.json \(train\): run "
                                            r"`dvc repro` so that validate checks them first$"):
        check_current(raw_params, "probe", written)
