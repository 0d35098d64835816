"""make settle's pieces: which looks remain, and params.yaml rewritten with a look's seeds."""
import dataclasses
import subprocess
import sys

import pytest
import yaml

from rankcert.certification import plan
from rankcert.config.params import load_params, params_from_dict
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import Layout
from rankcert.runtime.yamlfile import parse_yaml
from rankcert.tools import settle
from tests.helpers import PROJECT


def params_with(seeds, looks):
    params = load_params(PROJECT / "params.yaml")
    population = dataclasses.replace(params.certify.population, looks=looks)
    return dataclasses.replace(params, seeds=seeds, certify=dataclasses.replace(params.certify, population=population))


def test_the_looks_still_to_run_start_at_the_workspace_own_seed_count():
    declared = plan.from_params(params_with([42, 123, 456], [3, 6, 12, 24]))
    assert settle.looks_to_run(declared, 3) == [3, 6, 12, 24]
    assert settle.looks_to_run(declared, 6) == [6, 12, 24]
    assert settle.looks_to_run(declared, 5) == [6, 12, 24]  # seeds between looks grow to the next look
    assert settle.looks_to_run(declared, 24) == [24]


def test_settle_follows_the_declared_plan_and_refuses_params_that_depart_from_it(tmp_path):
    layout = Layout(tmp_path)
    params = params_with([42, 123, 456], [3, 6, 12, 24])
    assert settle.declared_plan(params, layout) == plan.from_params(params)  # before the first read: params'
    declared = dataclasses.replace(plan.from_params(params), seeds=[42, 123, 456, 7, 8, 9])
    layout.certify_plan.parent.mkdir(parents=True)
    layout.certify_plan.write_text(plan.plan_text(declared))
    assert settle.declared_plan(params, layout) == declared  # its seeds, not settle.next_seed's
    with pytest.raises(RankcertError, match=r"params depart from the plan declared in .*: looks \[3, 6, 12, 24\] → "
                                            r"\[12\]; restore them, or start a new plan \(docs/plan.md\)"):
        settle.declared_plan(params_with([42, 123, 456], [12]), layout)
    with pytest.raises(RankcertError, match="seed 1 of 3 is 123 where the declared sequence has 42"):
        settle.declared_plan(params_with([123, 42, 456], [3, 6, 12, 24]), layout)


def test_the_commit_message_lists_every_look_read_and_an_exploratory_read():
    declared = plan.Plan(0.9, 0.025, 0.95, [3, 6], "calibrated", [42, 123, 456, 1000, 1001, 1002])
    looks = [plan.Look(declared.seeds[:k], {"b": v, "a": "SAFE"}, {"a": 0.01, "b": 0.0312}, declared.sha256)
             for k, v in ((3, "UNSETTLED"), (6, "UNSAFE"))]
    body = settle.looks_read(plan.Reading(declared, declared.sha256, "5 seeds is not a declared look", looks))
    assert body.splitlines() == [
        f"plan sha256 {declared.sha256}; looks read:",
        "- 3 seeds (42, 123, 456): a SAFE (error spent 1.0%), b UNSETTLED (error spent 3.1%)",
        "- 6 seeds (42, 123, 456, 1000, 1001, 1002): a SAFE (error spent 1.0%), b UNSAFE (error spent 3.1%)",
        "EXPLORATORY, not certified: 5 seeds is not a declared look"]


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
