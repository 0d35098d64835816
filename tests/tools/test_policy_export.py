"""Policy export: the claims a certifiable run supports, which certify then agrees with by construction."""
from __future__ import annotations

import pytest
import yaml

from rankcert.certification.policy import Observed, claims_from
from rankcert.config.entrypoint import run_main
from rankcert.config.variants import parse_variant
from rankcert.runtime.errors import RankcertError
from rankcert.tools import policy_export
from tests.stages.test_certify import ALL_OK, make_run, read_certificate, run_certify


def export(root, monkeypatch, *argv):
    monkeypatch.chdir(root)
    policy_export.main(list(argv))


def test_certify_agrees_with_an_exported_policy(tmp_path, monkeypatch, capsys):
    make_run(tmp_path, ALL_OK)
    run_certify(tmp_path, monkeypatch, strict=False)
    export(tmp_path, monkeypatch, "--out", "policies/exported.yaml", "--write")
    assert "+  primary_uniform_rank: 20" in capsys.readouterr().out  # the diff against no file: every line added
    exported = yaml.safe_load((tmp_path / "policies" / "exported.yaml").read_text())
    assert exported["claims"] == {"expected": {"per_layer": "SAFE", "uniform_r20": "SAFE", "uniform_r24": "SAFE",
                                               "uniform_r16": "UNSAFE"},
                                  "primary_uniform_rank": 20, "conservative_uniform_rank": 24, "avoid_ranks": [16]}
    assert exported["scope"] == {"model_family": "distilbert", "task": "sst2"}
    assert exported["provenance"]["seeds"] == "42, 123, 456, 789, 1011"
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["certify"]["policy"] = "policies/exported.yaml"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert run_certify(tmp_path, monkeypatch) == 0  # --strict: certified
    policy = read_certificate(tmp_path).details.policy
    assert policy.claims_contradicted == 0 and policy.claims_agree == 7


def test_without_write_the_stored_policy_is_only_compared(tmp_path, monkeypatch, capsys):
    make_run(tmp_path, dict(ALL_OK, uniform_r16=[-0.01, 0.0, -0.02]))  # r16 now SAFE
    run_certify(tmp_path, monkeypatch, strict=False)
    before = (tmp_path / "policy.yaml").read_text()
    export(tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "-    uniform_r16: UNSAFE" in out and "+    uniform_r16: SAFE" in out and "not written" in out
    assert (tmp_path / "policy.yaml").read_text() == before


def test_a_run_below_certifiable_sets_no_policy(tmp_path, monkeypatch, capsys):
    make_run(tmp_path, ALL_OK, steps=100)
    run_certify(tmp_path, monkeypatch, strict=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        run_main(policy_export.main, ["--out", "new.yaml", "--write"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "screening+ level; only a certifiable run" in err
    assert not (tmp_path / "new.yaml").exists()


@pytest.mark.parametrize("statuses,claims", [
    ({"uniform_r16": "SAFE", "uniform_r20": "UNSAFE", "uniform_r24": "SAFE"}, (24, 24, [20])),
    ({"uniform_r8": "UNSAFE", "uniform_r16": "SAFE", "uniform_r24": "SAFE", "per_layer": "UNSAFE"}, (16, 24, [8])),
    ({"uniform_r4": "SAFE", "uniform_r8": "SAFE"}, (4, 8, [])),
])
def test_uniform_rank_claims(statuses, claims):
    got = claims_from(settled(statuses))
    assert (got.primary_uniform_rank, got.conservative_uniform_rank, got.avoid_ranks) == claims
    assert got.expected == statuses and got.unsettled == {}


def settled(statuses: dict[str, str], unsettled=()) -> dict:
    return {parse_variant(name): Observed(status, name not in unsettled, f"advice for {name}")
            for name, status in statuses.items()}


def test_no_safe_top_rank_means_no_policy():
    with pytest.raises(RankcertError, match="supports no primary_uniform_rank"):
        claims_from(settled({"uniform_r16": "SAFE", "uniform_r24": "UNSAFE"}))


def test_primary_and_conservative_ranks_are_chosen_among_settled_verdicts():
    statuses = {"uniform_r8": "SAFE", "uniform_r12": "SAFE", "uniform_r16": "SAFE", "uniform_r20": "SAFE",
                "uniform_r4": "UNSAFE"}
    got = claims_from(settled(statuses, unsettled=("uniform_r8", "uniform_r12", "uniform_r4")))
    assert (got.primary_uniform_rank, got.conservative_uniform_rank) == (16, 20)
    assert got.unsettled == {n: f"advice for {n}" for n in ("uniform_r8", "uniform_r12", "uniform_r4")}


def test_when_no_safe_rank_is_settled_the_export_says_what_would_settle_it():
    with pytest.raises(RankcertError, match="no uniform rank is SAFE with its verdict settled.*uniform_r16 advice "
                                            "for uniform_r16; uniform_r24 advice for uniform_r24"):
        claims_from(settled({"uniform_r16": "SAFE", "uniform_r24": "SAFE"}, unsettled=("uniform_r16", "uniform_r24")))


def test_an_unsettled_claim_says_so_in_the_exported_policy(tmp_path, monkeypatch):
    # r16 passes on one seed of five: UNSAFE by the spec rule, but one pass of five is no proof that most runs fail
    make_run(tmp_path, dict(ALL_OK, uniform_r16=[-0.04, 0.0, -0.05]))
    run_certify(tmp_path, monkeypatch, strict=False)
    export(tmp_path, monkeypatch, "--out", "policies/exported.yaml", "--write")
    claims = yaml.safe_load((tmp_path / "policies" / "exported.yaml").read_text())["claims"]
    assert claims["expected"]["uniform_r16"] == "UNSAFE" and claims["primary_uniform_rank"] == 20
    assert claims["unsettled"]["uniform_r16"].startswith("not settled (population verdict UNSETTLED at 5 seeds")


def test_provenance_identifies_code_model_and_data_by_content(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK)
    run_certify(tmp_path, monkeypatch, strict=False)
    (tmp_path / "data" / "code").mkdir()
    (tmp_path / "data" / "code" / "certify.json").write_text('{"files": {}}')
    export(tmp_path, monkeypatch, "--out", "policies/exported.yaml", "--write")
    found = yaml.safe_load((tmp_path / "policies" / "exported.yaml").read_text())["provenance"]
    assert all(key.isidentifier() and key == key.lower() for key in found)  # snake_case like the rest
    assert len(found["code_fingerprint"]) == 64 and found["code_revision"] == "unknown: not a git checkout"
    assert str(tmp_path) not in yaml.safe_dump(found)  # no path that means nothing elsewhere
    assert found["validation_level"] == "certifiable"
