"""The report says a run-wide sentence once, explains what it cannot compute, and why a bound is wide."""
import math

from rankcert.certification import evidence
from rankcert.reporting import report
from tests.certification.test_frontier import verdict
from tests.stages.test_certify import ALL_OK, SEEDS, make_run, run_certify


def read_report(root) -> str:
    return (root / "metrics" / "report.md").read_text()


def test_the_implied_pass_rate_is_said_once_and_a_binding_one_under_its_variant(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK, skip={(456, "uniform_r24")}, seeds=SEEDS[:3])
    run_certify(tmp_path, monkeypatch, strict=False)
    text = read_report(tmp_path)
    assert text.count("the pass-rate condition is implied") == 1 and "The pass-rate condition is implied" not in text
    r24 = text[text.index("## uniform_r24"):text.index("## uniform_r16")]
    assert "The pass-rate condition decides here: every Δ clears the line, but missing or UNDERTRAINED seeds leave " \
           "2 of 3 passing (pass rate 0.667 < 0.67)." in r24
    assert text.count("The pass-rate condition decides here") == 1


def test_a_lower_bound_from_two_seeds_says_it_is_wide_because_of_them(tmp_path, monkeypatch):
    make_run(tmp_path, {"per_layer": [0.0, -0.004], "uniform_r24": [0.0, 0.0], "uniform_r20": [0.02, -0.04],
                        "uniform_r16": [-0.04, -0.01]}, seeds=[42, 123])
    run_certify(tmp_path, monkeypatch, strict=False)
    text = read_report(tmp_path)
    evidence_section = text.split("## How much evidence", 1)[1]
    row = next(line for line in evidence_section.splitlines() if line.startswith("| uniform_r20 | UNSAFE |"))
    assert " † |" in row
    assert "† Wide because there are few seeds: the seed-to-seed spread is estimated from 2 seeds" in text


def test_the_wide_bound_note_gives_the_degrees_of_freedom_and_the_multiplier():
    assert report._wide_bounds(3, {}, 0.95) == []
    note = report._wide_bounds(2, {"uniform_r20": 1.0, "uniform_r16": 1.26}, 0.95)[0]
    assert "from 2 seeds, leaving 1.0–1.3 degrees of freedom" in note
    assert f"up to {evidence.t_multiplier(1.0, 0.95):.1f} standard errors" in note and "6.3 standard errors" in note
    assert f"about {evidence.t_multiplier(math.inf, 0.95):.2f} with many seeds" in note


def test_a_correlation_that_cannot_be_computed_says_why():
    two = report._truncation_section(verdict({"uniform_r8": [-4, 0], "truncated_uniform_r8": [-10, 2]}))
    assert "the correlation of the two Δs needs at least 3 (seed, pair) points, this run has 2." in "\n".join(two)
    flat = report._truncation_section(verdict({"uniform_r8": [0, 0, 0], "truncated_uniform_r8": [-10, 2, 4]}))
    assert "is undefined: one of them is the same in every pair" in "\n".join(flat)
    three = report._truncation_section(verdict({"uniform_r8": [-4, 0, 2], "truncated_uniform_r8": [-10, 2, 4]}))
    assert ", correlation of the two Δs 0." in "\n".join(three)


def test_a_lower_bound_on_a_delta_is_shown_within_what_a_delta_can_be():
    """A Δ of accuracies is never below −100 points: a bound that few seeds leave below it says nothing yet."""
    from rankcert.runtime.text import bound_pts

    assert bound_pts(-0.0312, 3) == "-3.1" and bound_pts(None, 3) == "—"
    assert bound_pts(-4.595, 2) == bound_pts(-1.0, 2) == "no bound yet at 2 seeds"
