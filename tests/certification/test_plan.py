"""The declared plan: its record and hash, and certify reading every bending route (issue 36) as exploratory."""
import dataclasses
import hashlib
import json
import shutil

import pytest
import yaml

from rankcert.certification import plan
from rankcert.config.params import load_params
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT, Layout
from rankcert.tools import policy_export
from tests.helpers import PROJECT, set_in
from tests.stages.test_certify import ALL_OK, SEEDS, make_run, read_certificate, run_certify

LOOKS = [5, 6]  # with share 0.5: five passes of five say SAFE at the first look (pocock spends 4.4% by 5 of 6)
DECLARED = plan.Plan(0.9, 0.025, 0.95, [3, 6, 12], "calibrated", [42, 123, 456, *range(1000, 1009)])


def look(k: int, declared: plan.Plan = DECLARED, **verdicts) -> plan.Look:
    verdicts = verdicts or {"a": "SAFE", "b": "UNSETTLED"}
    return plan.Look(declared.seeds[:k], verdicts, {n: 0.01 for n in verdicts}, declared.sha256)


# the record

def test_the_plan_params_state_reads_the_seeds_in_order_up_to_the_last_look():
    params = load_params(PROJECT / "params.yaml")
    stated = plan.from_params(params)
    assert (stated.share, stated.tolerance, stated.confidence) == (0.9, 0.025, 0.95)
    assert stated.looks == [3, 8, 16, 32, 40, 48, 56, 64] and stated.spending == "pocock"
    assert stated.seeds == [42, 123, 456, *range(1000, 1061)]


def test_the_hash_is_the_sha256_of_the_canonical_encoding_and_every_term_changes_it():
    canonical = json.dumps(dataclasses.asdict(DECLARED), sort_keys=True, separators=(",", ":"))
    assert DECLARED.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    changed = [dataclasses.replace(DECLARED, **{f.name: v}) for f, v in zip(
        dataclasses.fields(plan.Plan), (0.8, 0.03, 0.9, [3, 6], "bonferroni", [123, 42, 456, *range(1000, 1009)]))]
    assert len({p.sha256 for p in [DECLARED, *changed]}) == 7


def test_the_plan_file_reads_back_as_written_and_is_the_same_bytes(tmp_path):
    path = tmp_path / "plan.json"
    assert plan.read_plan(path) is None  # before the first read
    path.write_text(plan.plan_text(DECLARED))
    assert plan.read_plan(path) == DECLARED and plan.plan_text(plan.read_plan(path)) == path.read_text()
    assert json.loads(path.read_text())["sha256"] == DECLARED.sha256  # a reader sees the hash beside the terms
    looks = tmp_path / "looks.json"
    assert plan.read_looks(looks) == []
    looks.write_text(plan.looks_text([look(3), look(6)]))
    assert plan.read_looks(looks) == [look(3), look(6)]


def test_a_plan_file_edited_by_hand_is_one_line_saying_what_to_do(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(plan.plan_text(DECLARED).replace('"share": 0.9', '"share": 0.8'))
    with pytest.raises(RankcertError, match=r"plan.json was edited by hand: its sha256 is not its terms'; restore "):
        plan.read_plan(path)
    path.write_text('{"looks": [3]}')
    with pytest.raises(RankcertError, match=r"plan.json is not the plan file this rankcert writes \(missing key 'share'.*"
                                            r"restore it from git \(docs/plan.md\)$"):
        plan.read_plan(path)
    (tmp_path / "looks.json").write_text('[{"seeds": [42]}]')
    with pytest.raises(RankcertError, match=r"looks.json is not the looks file this rankcert writes \(missing key "
                                            r"'\[0\].verdicts'"):
        plan.read_looks(tmp_path / "looks.json")
    (tmp_path / "looks.json").write_text(plan.looks_text([dataclasses.replace(look(3), error_spent={"other": 0.1})]))
    with pytest.raises(RankcertError, match="looks.json: look 1 spends error on other variants than it has verdicts"):
        plan.read_looks(tmp_path / "looks.json")


# the routes, as plain functions: each is the first reason found, one line

@pytest.mark.parametrize("stated,seeds,why", [
    (DECLARED, [123, 42, 456], "seed 1 of 3 is 123 where the declared sequence has 42: the looks read the seeds in "
                               "the declared order (42, 123, 456, 1000, 1001, 1002, ... (12 in all))"),
    (dataclasses.replace(DECLARED, looks=[12]), [42, 123, 456],
     "the plan changed after look(s) were read: looks [3, 6, 12] → [12]"),
    (DECLARED, [42, 123, 456, 1000], "4 seeds is not a declared look ([3, 6, 12]); certify is read at looks only"),
    (DECLARED, [42, 123, 7], "seed 3 of 3 is 7 where the declared sequence has 456"),
    (dataclasses.replace(DECLARED, confidence=0.9, spending="bonferroni"), [42, 123, 456],
     "the plan changed after look(s) were read: confidence 0.95 → 0.9; spending calibrated → bonferroni"),
], ids=["reordered", "looks edited", "a read between looks", "a seed replaced", "two terms changed"])
def test_each_route_is_a_departure_naming_what_departs(stated, seeds, why):
    this = plan.Look(seeds, {"a": "SAFE", "b": "UNSETTLED"}, {"a": 0.01, "b": 0.01}, DECLARED.sha256)
    found = plan.departure(DECLARED, [look(3)], stated, this)
    assert found.startswith(why) and "\n" not in found


def test_a_look_is_recorded_once_and_read_again_with_the_same_verdicts_is_no_departure():
    first = plan.read(DECLARED, [], DECLARED, look(3))
    assert first.exploratory is None and first.looks == [look(3)] and first.sha256 == DECLARED.sha256
    again = plan.read(DECLARED, first.looks, DECLARED, look(3))
    assert again == first
    second = plan.read(DECLARED, first.looks, DECLARED, look(6))
    assert second.looks == [look(3), look(6)]
    assert plan.read(DECLARED, second.looks, DECLARED, look(3)).looks == second.looks  # an earlier look: not again


def test_a_look_read_again_with_other_verdicts_is_exploratory_and_not_recorded():
    found = plan.read(DECLARED, [look(3)], DECLARED, look(3, a="SAFE", b="SAFE"))
    assert found.exploratory == ("the look at 3 seeds was read before with other verdicts (b UNSETTLED → SAFE); a "
                                 "look is read once")
    assert found.looks == [look(3)]


def test_a_plan_file_rewritten_after_looks_were_read_is_exploratory():
    edited = dataclasses.replace(DECLARED, looks=[3, 12])
    found = plan.departure(edited, [look(3)], edited, look(3, edited))
    assert found == (f"the looks read so far were under plan {DECLARED.sha256[:12]}, the plan file declares "
                     f"{edited.sha256[:12]}: it was replaced after they were read")


def test_the_first_read_declares_even_when_it_is_not_a_look():
    """A peek before the first look fixes the plan too: looks chosen after it would be chosen after the data."""
    found = plan.read(DECLARED, [], DECLARED, look(2))
    assert found.exploratory.startswith("2 seeds is not a declared look") and found.looks == []
    later = plan.departure(DECLARED, [], dataclasses.replace(DECLARED, looks=[2, 6, 12]), look(2))
    assert later == "the plan changed after the first read declared it: looks [3, 6, 12] → [2, 6, 12]"


# certify on fixture predictions: the routes end to end, the plan file and the certificate

@pytest.fixture(scope="module")
def first_look(tmp_path_factory):
    """A certified first look at 5 seeds (looks 5, 6; share 0.5), made once for the module."""
    root = make_run(tmp_path_factory.mktemp("plan"), ALL_OK, looks=LOOKS)
    with pytest.MonkeyPatch.context() as patch:
        assert run_certify(root, patch) == 0
    return root


@pytest.fixture
def workspace(first_look, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(first_look, root)
    edit_params(root, **{"certify.policy": str(root / "policy.yaml")})  # the copy's own
    return root


def edit_params(root, **changes):
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in changes.items():
        set_in(params, key.split("."), value)
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def exploratory(root, monkeypatch) -> str:
    """Certify again; it must not certify, and says why once: in the details, the report and the console."""
    before = {path: (root / path).read_bytes() for path in (LAYOUT.certify_plan, LAYOUT.certify_looks)}
    assert run_certify(root, monkeypatch) == 1
    found = read_certificate(root)
    why = found.details.plan.exploratory
    assert found.metrics.certified is False and why
    line = f"exploratory read, not a look of the declared plan: {why} (docs/plan.md)"
    report = (root / LAYOUT.report).read_text()
    assert f"- {line}" in report.split("\n## ", 1)[0] and f"**Exploratory read**: {why}." in report
    assert {path: (root / path).read_bytes() for path in before} == before  # neither the plan nor the looks read
    return why


def test_the_first_look_writes_the_plan_and_its_hash_goes_into_the_certificate(first_look):
    written = json.loads((first_look / LAYOUT.certify_plan).read_text())
    declared = plan.read_plan(first_look / LAYOUT.certify_plan)
    assert written["looks"] == LOOKS and written["seeds"] == [*SEEDS, 1000]
    details = read_certificate(first_look).details.plan
    assert details.sha256 == written["sha256"] == declared.sha256 and details.declared == declared
    assert details.exploratory is None
    assert [(lk.seeds, lk.verdicts["uniform_r16"], lk.plan_sha256) for lk in details.looks] == [
        (SEEDS, "UNSAFE", declared.sha256)]
    assert plan.read_looks(first_look / LAYOUT.certify_looks) == details.looks
    report = (first_look / LAYOUT.report).read_text()
    assert f"## Plan\n\nDeclared at the first read and fixed since (sha256 `{declared.sha256}`)" in report
    spent = read_certificate(first_look).details.variants["per_layer"].population.confidence_spent
    assert f"| 5 | 42, 123, 456, 789, 1011 | per_layer SAFE ({spent:.1%}), uniform_r16 UNSAFE ({spent:.1%})" in report


def test_certify_again_at_the_same_look_is_the_same_bytes_and_records_the_look_once(workspace, monkeypatch):
    files = [LAYOUT.certificate, LAYOUT.certificate_details, LAYOUT.certify_plan, LAYOUT.certify_looks, LAYOUT.report]
    before = {path: (workspace / path).read_bytes() for path in files}
    assert run_certify(workspace, monkeypatch) == 0
    assert {path: (workspace / path).read_bytes() for path in files} == before


def test_reordered_seeds_are_exploratory(workspace, monkeypatch):
    edit_params(workspace, seeds=[123, 42, 456, 789, 1011])
    assert exploratory(workspace, monkeypatch).startswith("seed 1 of 5 is 123 where the declared sequence has 42")


def test_looks_edited_after_a_look_was_read_are_exploratory_and_set_no_policy(workspace, monkeypatch):
    edit_params(workspace, **{"certify.population.looks": [5]})
    assert exploratory(workspace, monkeypatch) == "the plan changed after look(s) were read: looks [5, 6] → [5]"
    with pytest.raises(RankcertError, match="is an exploratory read .*only a look of the declared plan can set a policy"):
        policy_export.observed(Layout(workspace))


def test_a_read_between_looks_is_exploratory(workspace, monkeypatch):
    make_run(workspace, ALL_OK, seeds=SEEDS[:4], looks=LOOKS)
    assert exploratory(workspace, monkeypatch) == "4 seeds is not a declared look ([5, 6]); certify is read at looks only"


def test_a_replaced_seed_is_exploratory(workspace, monkeypatch):
    make_run(workspace, ALL_OK, seeds=[*SEEDS[:4], 7], looks=LOOKS)
    assert exploratory(workspace, monkeypatch).startswith("seed 5 of 5 is 7 where the declared sequence has 1011")


def test_the_same_look_read_again_with_other_results_is_exploratory(workspace, monkeypatch):
    make_run(workspace, dict(ALL_OK, uniform_r16=[0.0]), looks=LOOKS)  # r16 was UNSAFE at this look
    assert exploratory(workspace, monkeypatch) == ("the look at 5 seeds was read before with other verdicts "
                                                   "(uniform_r16 UNSAFE → SAFE); a look is read once")


def test_the_next_look_is_appended_and_a_new_plan_starts_once_both_files_are_deleted(workspace, monkeypatch):
    make_run(workspace, ALL_OK, seeds=[*SEEDS, 1000], looks=LOOKS)
    run_certify(workspace, monkeypatch, strict=False)
    looks = read_certificate(workspace).details.plan.looks
    assert [lk.seeds for lk in looks] == [SEEDS, [*SEEDS, 1000]]
    # a new plan (a new release cycle): the files deleted in a commit, then certify declares params' plan
    edit_params(workspace, **{"certify.population.looks": [6, 12]})
    assert exploratory(workspace, monkeypatch).startswith("the plan changed after look(s) were read")
    for path in (LAYOUT.certify_plan, LAYOUT.certify_looks):
        (workspace / path).unlink()
    run_certify(workspace, monkeypatch, strict=False)
    found = read_certificate(workspace).details.plan
    assert found.exploratory is None and found.declared.looks == [6, 12] and found.sha256 != looks[0].plan_sha256
    assert [len(lk.seeds) for lk in found.looks] == [6]
