import pytest
import yaml

from rankcert.certification.policy import check_claims, criteria_differences, load_policy
from rankcert.certification.stats import seed_result, summarize
from rankcert.certification.words import Outcome
from rankcert.runtime.errors import RankcertError
from tests.helpers import rule as rule_with

VARIANTS = ["per_layer", "uniform_r20", "uniform_r24", "uniform_r16"]


def policy_dict():
    return yaml.safe_load(open("policies/safe_uniform.yaml"))


def write(tmp_path, raw, text=None):
    path = tmp_path / "policy.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(raw))
    return path


def test_shipped_policy_loads_and_states_the_spec_claims():
    policy = load_policy("policies/safe_uniform.yaml")
    expected = {(variant, status) for _, variant, status in policy.expectations()}
    assert expected == {("per_layer", "SAFE"), ("uniform_r20", "SAFE"), ("uniform_r24", "SAFE"),
                        ("uniform_r16", "UNSAFE")}
    assert criteria_differences(policy, 0.025, 0.67) == []


def _mutate(raw, path, value):
    *parents, last = path
    for key in parents:
        raw = raw[key]
    if value is None:
        del raw[last]
    else:
        raw[last] = value


BAD = [
    (("criteria", "tolerance"), None, "missing key 'criteria.tolerance'"),
    (("claims", "expected", "uniform_r20"), "MAYBE", "must be SAFE or UNSAFE"),
    (("claims", "expected", "uniform_rx8"), "SAFE", "'uniform_rx8', which no variant kind defines; use "),
    (("claims", "expected", "per_layer_e950"), "SAFE", "'per_layer_e950', which no variant kind defines"),
    (("claims", "primary_uniform_rank"), 16, "conflicts with claims.expected.uniform_r16"),
    (("version",), 2, "version 2 is not supported"),
    (("scope", "familly"), "x", "unknown key 'scope.familly'"),
    (("claims", "avoid_ranks"), "16", "claims.avoid_ranks must be a list"),
]


@pytest.mark.parametrize("path,value,message", BAD)
def test_malformed_policy_names_the_bad_key(tmp_path, path, value, message):
    raw = policy_dict()
    _mutate(raw, path, value)
    with pytest.raises(RankcertError) as err:
        load_policy(write(tmp_path, raw))
    assert message in str(err.value)


def test_unreadable_policy(tmp_path):
    with pytest.raises(RankcertError, match="not valid YAML"):
        load_policy(write(tmp_path, None, "claims: [oops\n"))
    with pytest.raises(RankcertError, match="not found"):
        load_policy(tmp_path / "none.yaml")


def test_claims_agree_contradict_or_are_not_measured():
    import numpy as np

    rule = rule_with(bootstrap_resamples=1000)
    labels = np.ones(1000, dtype=int)
    probe = (np.arange(1000) < 800).astype(int)
    ok = (np.arange(1000) < 795).astype(int)
    bad = (np.arange(1000) < 700).astype(int)
    summaries = {
        "per_layer": summarize("per_layer", [seed_result(s, labels, probe, ok, rule) for s in (1, 2, 3)], rule),
        "uniform_r20": summarize("uniform_r20", [seed_result(s, labels, probe, bad, rule) for s in (1, 2, 3)], rule),
        "uniform_r16": summarize("uniform_r16", [seed_result(s, labels, probe, ok, rule) for s in (1, 2, 3)], rule),
        "uniform_r24": summarize("uniform_r24", [seed_result(s, labels, probe, None, rule) for s in (1, 2, 3)], rule),
    }
    policy = load_policy("policies/safe_uniform.yaml")
    population = {"per_layer": "SAFE", "uniform_r20": "UNSETTLED", "uniform_r16": "SAFE", "uniform_r24": "UNSETTLED"}
    observed = {n: s.observed for n, s in summaries.items()}
    outcome = {c.claim: c.outcome for c in check_claims(policy, observed, population)}
    assert outcome["per_layer is SAFE"] == Outcome.AGREES
    # the spec rule says UNSAFE about these runs; the claim is about runs in general, which are not settled yet
    assert outcome["uniform_r20 is SAFE"] == Outcome.UNSETTLED
    assert outcome["uniform_r16 is UNSAFE"] == Outcome.CONTRADICTS
    assert outcome["rank 16 is to be avoided (UNSAFE)"] == Outcome.CONTRADICTS
    assert outcome["uniform_r24 is SAFE"] == Outcome.NOT_MEASURED


def test_a_claim_the_spec_rule_agrees_with_is_unsettled_until_the_population_verdict_settles_it():
    import numpy as np

    rule = rule_with(bootstrap_resamples=1000)
    labels, probe = np.ones(1000, dtype=int), (np.arange(1000) < 800).astype(int)
    ok = (np.arange(1000) < 795).astype(int)
    summaries = {name: summarize(name, [seed_result(s, labels, probe, ok, rule) for s in (1, 2, 3)], rule)
                 for name in VARIANTS}
    policy = load_policy("policies/safe_uniform.yaml")
    observed = {n: s.observed for n, s in summaries.items()}
    checks = {c.claim: c for c in check_claims(policy, observed, {"uniform_r20": "UNSETTLED", "per_layer": "UNSAFE"})}
    assert checks["uniform_r20 is SAFE"].outcome == Outcome.UNSETTLED
    assert checks["per_layer is SAFE"].outcome == Outcome.CONTRADICTS and checks["per_layer is SAFE"].population == "UNSAFE"


def test_a_claim_about_a_variant_the_run_does_not_measure_loads_and_is_not_measured(tmp_path):
    """A study of some variants needs no edit of the policy: its other claims are not measured (not certified)."""
    raw = policy_dict()
    raw["claims"]["expected"]["uniform_r8"] = "SAFE"
    raw["claims"]["avoid_ranks"] = [12, 16]
    policy = load_policy(write(tmp_path, raw))
    checks = check_claims(policy, {"uniform_r16": "UNSAFE"}, {"uniform_r16": "UNSAFE"})
    outcome = {c.claim: c.outcome for c in checks}
    assert outcome.pop("uniform_r16 is UNSAFE") == outcome.pop("rank 16 is to be avoided (UNSAFE)") == Outcome.AGREES
    assert set(outcome.values()) == {Outcome.NOT_MEASURED}
    assert {c.variant for c in checks if c.outcome == Outcome.NOT_MEASURED} == {
        "per_layer", "uniform_r20", "uniform_r24", "uniform_r8", "uniform_r12"}
