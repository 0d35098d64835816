"""make settle's pieces: which looks remain, and params.yaml rewritten with a look's seeds."""
import dataclasses
import subprocess
import sys

import pytest
import yaml

from rankcert.config.params import load_params, params_from_dict
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.yamlfile import parse_yaml
from rankcert.tools import settle
from tests.helpers import PROJECT


def params_with(seeds, looks):
    params = load_params(PROJECT / "params.yaml")
    population = dataclasses.replace(params.certify.population, looks=looks)
    return dataclasses.replace(params, seeds=seeds, certify=dataclasses.replace(params.certify, population=population))


def test_the_looks_still_to_run_start_at_the_workspace_own_seed_count():
    assert settle.looks_to_run(params_with([42, 123, 456], [3, 6, 12, 24])) == [3, 6, 12, 24]
    assert settle.looks_to_run(params_with([42, 123, 456, 1000, 1001, 1002], [3, 6, 12, 24])) == [6, 12, 24]
    assert settle.looks_to_run(params_with([1, 2, 3, 4, 5], [3, 6, 12, 24])) == [5, 12, 24]  # 5 stands for 6
    assert settle.looks_to_run(params_with(list(range(24)), [3, 6, 12, 24])) == [24]


def test_the_declared_sequence_continues_after_the_seeds_and_is_the_same_from_any_look():
    params = load_params(PROJECT / "params.yaml")
    assert params.settle_sequence(6) == [42, 123, 456, 1000, 1001, 1002]
    grown = dataclasses.replace(params, seeds=params.settle_sequence(6))
    assert grown.settle_sequence(8) == params.settle_sequence(8)


def test_seeds_are_rewritten_with_comments_and_every_other_value_kept():
    text = (PROJECT / "params.yaml").read_text()
    new = settle.with_seeds(text, [42, 123, 456, 1000, 1001, 1002])
    assert "seeds: [42, 123, 456, 1000, 1001, 1002]" in new
    assert "# the recipe, the same for the probe and every retrained variant" in new
    before, after = parse_yaml(text, "old"), parse_yaml(new, "new")
    assert after.pop("seeds") == [42, 123, 456, 1000, 1001, 1002] and before.pop("seeds") == [42, 123, 456]
    assert after == before
    params_from_dict(parse_yaml(new, "new"))  # still valid params


def test_settle_outside_git_says_what_to_do(tmp_path):
    (tmp_path / "params.yaml").write_text((PROJECT / "params.yaml").read_text())
    result = subprocess.run([sys.executable, "-m", "rankcert.tools.settle"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 2 and "not a git checkout: each look is a commit" in result.stderr


def test_settle_refuses_an_imported_adapter_before_it_writes_anything(tmp_path, monkeypatch):
    raw = parse_yaml((PROJECT / "params.yaml").read_text(), "params")
    raw["probe"]["adapter"], raw["seeds"] = "my-adapter", [42]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    before = (tmp_path / "params.yaml").read_bytes()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RankcertError, match="probe.adapter imports one adapter, so seeds stay one"):
        settle.main(["--no-commit"])
    assert (tmp_path / "params.yaml").read_bytes() == before
