"""The pre-release gate in a temporary git+DVC repository with tagged commits, on fixture predictions."""
import dataclasses
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from rankcert.certification.certificate import Reason
from rankcert.certification.words import ReasonKind
from rankcert.runtime.layout import LAYOUT, Layout
from rankcert.tools.pre_release import certificate_lines, headline, lock_outputs, stage_changes, stale_stages
from tests.certification.test_certificate import sample
from tests.helpers import PROJECT, commit, sh
from tests.stages.test_certify import ALL_OK, make_run

POLICY = "policies/safe_uniform.yaml"  # relative: the repo's own copy, tracked with it


def certify_only_pipeline(root: Path) -> None:
    """The project's own code, validate and certify stages (from dvc.yaml), over fixture inputs kept in git."""
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    pipeline = {"stages": {name: stages[name] for name in ("code", "validate", "certify")}}
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    for code in ("stages", "rankcert"):
        shutil.copytree(PROJECT / code, root / code, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT / "policies", root / "policies")
    shutil.copy2(PROJECT / ".dvcignore", root / ".dvcignore")
    for folder in ("data/variants", "data/prepared", "metrics/eval"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / ".keep").write_text("")


@pytest.fixture(scope="module")
def first_release(tmp_path_factory):
    """A repo whose v1 release is a clean, certified run, made once for the module."""
    root = tmp_path_factory.mktemp("released")
    make_run(root, ALL_OK, policy=POLICY)
    certify_only_pipeline(root)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "repro")
    commit(root, "release 1", tag="v1")
    return root


@pytest.fixture
def released(first_release, tmp_path):
    """A copy of the v1 repo of its own for each test (git and DVC keep only relative paths)."""
    root = tmp_path / "repo"
    shutil.copytree(first_release, root, symlinks=True)
    return root


def gate(root, *extra):
    return sh(root, "python", "-m", "rankcert.tools.pre_release", *extra, check=False)


def rerun_with(root, deltas):
    """The next release: other results at the same seeds, read under a new plan (docs/plan.md: a release cycle
    starts one), as the same look read again with other verdicts would be exploratory."""
    make_run(root, deltas, policy=POLICY)
    for path in (LAYOUT.certify_plan, LAYOUT.certify_looks):
        (root / path).unlink()
    sh(root, "dvc", "repro")
    commit(root, "next")


def test_clean_certified_run_passes_against_the_previous_tag(released):
    rerun_with(released, dict(ALL_OK, uniform_r20=[-0.008, -0.01, -0.008]))
    result = gate(released)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dvc metrics diff v1" in result.stdout and "pre-release check passed" in result.stdout


def test_a_contradicted_claim_is_one_line_with_both_sides_and_an_expected_unsafe_is_no_failure(released):
    rerun_with(released, dict(ALL_OK, uniform_r20=[-0.030]))  # every seed fails: population UNSAFE at 5 (share 0.5)
    summary = released / "summary.md"
    result = gate(released, "--summary", str(summary))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    fails = [line for line in lines if line.startswith("FAIL")]
    # the claim, what was observed and why, and the flip against v1: one line, as it is one thing wrong
    seeds = ", ".join(f"seed {s} Δ -3.0 points" for s in (42, 123, 456, 789, 1011))
    assert fails == ["FAIL policy safe_uniform claims uniform_r20 is SAFE and primary uniform rank 20 is SAFE; "
                     f"observed UNSAFE: {seeds} (SAFE at v1, worst Δ -0.8)"], result.stdout
    assert lines[lines.index(fails[0]) - 1] == "NOT CERTIFIED: 1 reason"  # the headline, right before the lines
    assert "uniform_r16" not in "\n".join(fails)  # UNSAFE, as the policy expects
    written = summary.read_text()
    assert written.startswith("## Pre-release check: FAILED\n\n- NOT CERTIFIED: 1 reason\n- FAIL policy safe_uniform "
                              "claims uniform_r20 is SAFE")
    assert "## dvc metrics diff v1 → workspace" in written
    # the flip is a row of its own: the variant's file, its verdict, before and after
    assert [[cell.strip() for cell in row.split("|")[1:5]] for row in written.splitlines() if "| spec " in row] == [
        ["metrics/variants/uniform_r20.json", "spec", "SAFE", "UNSAFE"]]
    assert "### rankcert certification: **NOT CERTIFIED**\n\n- policy claim contradicted" in written
    assert "\n### Frontier\n\n| variant |" in written
    assert "| uniform_r20 |" in written and "| uniform_r16 |" in written  # the report's verdict table


def test_a_status_flip_the_policy_does_not_claim_names_variant_seed_and_numbers(released):
    (released / POLICY).write_text((released / POLICY).read_text().replace("    uniform_r16: UNSAFE\n", "")
                                   .replace("avoid_ranks: [16]", "avoid_ranks: []"))
    sh(released, "dvc", "repro")
    commit(released, "r16 unclaimed", tag="v2")
    rerun_with(released, dict(ALL_OK, uniform_r16=[-0.01, -0.01, -0.02]))
    result = gate(released)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if line.startswith("FAIL")] == [
        "FAIL uniform_r16: status flipped UNSAFE → SAFE against v2 (worst Δ -5.0 → -2.0; seed 456 Δ -2.0 points)"]


def test_a_criteria_mismatch_is_its_own_line(released):
    params = yaml.safe_load((released / "params.yaml").read_text())
    params["certify"]["tolerance"] = 0.05
    (released / "params.yaml").write_text(yaml.safe_dump(params))
    sh(released, "dvc", "repro")
    commit(released, "wider tolerance")
    result = gate(released)
    assert result.returncode == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "FAIL not certified: policy criteria differ from params: tolerance: policy 0.025, params 0.05" in fails
    assert not [line for line in fails if "not up to date" in line], fails
    # the tolerance is the plan's too: changed after its look was read, the certificate is exploratory
    assert [line for line in fails if line.startswith(
        "FAIL not certified: exploratory read, not a look of the declared plan: the plan changed after look(s) "
        "were read: tolerance 0.025 → 0.05")], fails


def test_bad_input_is_one_line_and_exit_2_and_what_it_leaves_out_of_date_one_more_line(released):
    policy = (released / POLICY).read_text()
    (released / POLICY).write_text(policy.replace("uniform_r24: SAFE", "uniform_rx24: SAFE"))
    assert sh(released, "dvc", "repro", check=False).returncode != 0  # validate refuses; DVC removed its marker
    summary = released / "summary.md"
    result = gate(released, "--summary", str(summary))
    assert result.returncode == 2 and "FAIL" not in result.stdout
    assert result.stderr.startswith("rankcert: error: policy policies/safe_uniform.yaml: claim 'uniform_rx24 is SAFE' "
                                    "is about 'uniform_rx24', which no variant kind defines") and \
        result.stderr.count("\n") == 1, result.stderr
    assert summary.read_text().startswith("## Pre-release check: bad input (exit 2)\n\n- rankcert: error: policy ")
    (released / POLICY).write_text(policy)  # fixed, but validate has not run again since
    result = gate(released)
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert fails == ["FAIL pipeline not up to date: validate (changed outs: data/inputs/validated.json deleted, data/params "
                     "deleted); "
                     "1 more stage(s) are out of date only through it"], result.stdout
    assert "CERTIFIED; 1 stage not up to date" in result.stdout.splitlines()
    (released / LAYOUT.certificate).write_text("{")
    result = gate(released)
    assert result.returncode == 2 and result.stderr.startswith("rankcert: error: metrics/certify.json is not JSON")


def test_worst_delta_drop_beyond_the_allowance_fails_even_when_still_safe(released):
    rerun_with(released, dict(ALL_OK, uniform_r20=[-0.008, -0.020, -0.008]))
    result = gate(released)
    assert result.returncode == 1
    assert "FAIL uniform_r20: worst Δ dropped 1.2 points (-0.8 → -2.0), more than the allowed 1.0; seed 123" in result.stdout
    # still SAFE by the spec rule, and about the next run: every seed passes, and the pass count is all it reads
    assert "population verdict is UNSETTLED" not in result.stdout


def test_stale_pipeline_fails(released):
    params = yaml.safe_load((released / "params.yaml").read_text())
    params["certify"]["bootstrap_resamples"] = 5000
    (released / "params.yaml").write_text(yaml.safe_dump(params))
    result = gate(released, "--rev", "v1")
    assert result.returncode == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert fails == ["FAIL pipeline not up to date: validate (changed deps: params.yaml modified)",
                     "FAIL pipeline not up to date: certify (changed deps: params.yaml certify modified)"], result.stdout


def test_uncertified_run_fails_without_any_tag(tmp_path):
    make_run(tmp_path, ALL_OK, steps=100, policy=POLICY)
    certify_only_pipeline(tmp_path)
    sh(tmp_path, "git", "init", "-q", "-b", "main")
    sh(tmp_path, "dvc", "init", "-q")
    sh(tmp_path, "dvc", "repro")
    commit(tmp_path, "short run")
    result = gate(tmp_path)
    assert result.returncode == 1
    assert "no earlier release tag" in result.stdout
    assert "FAIL not certified: validation level is screening+ (100 steps < 500)" in result.stdout


def test_the_gate_says_each_reason_the_certificate_recorded_once_and_checks_nothing_again():
    """The lines come from the certificate alone (no params, no policy): a line per reason certify worded, in its
    order, a variant's contradicted claims (one reason) one line with the evidence; the headline counts them."""
    level = Reason.about_run(ReasonKind.LEVEL, "validation level is screening+ (2 seed(s) < 3; 40 steps < 500)")
    disagree = Reason.about_run(ReasonKind.DISAGREEMENT, "the run's records disagree with params: seed 42's probe ran "
                                                         "40 steps; params say 500 (`dvc repro` reruns what is stale)")
    said = "uniform_r16 is UNSAFE and rank 16 is to be avoided (UNSAFE)"
    claim = Reason(ReasonKind.CLAIM_CONTRADICTED, f"policy claim contradicted: {said} (observed SAFE, population "
                                                  "verdict UNSETTLED)", "uniform_r16", said)
    unmeasured = Reason(ReasonKind.CLAIM_NOT_MEASURED, "policy claim not measured: uniform_r8 is SAFE (params.yaml "
                                                       "variants do not include it: add it to certify the claim)",
                        "uniform_r8", "uniform_r8 is SAFE")
    found = sample()
    found = dataclasses.replace(found, details=dataclasses.replace(found.details,
                                                                   reasons=[level, claim, disagree, unmeasured]))
    assert certificate_lines("safe_uniform", found, None, None) == [
        f"not certified: {level.text}",
        "policy safe_uniform claims uniform_r16 is UNSAFE and rank 16 is to be avoided (UNSAFE); observed SAFE: every "
        "seed passes, worst seed 123 Δ -1.0 points (population verdict UNSETTLED)",
        f"not certified: {disagree.text}", f"not certified: {unmeasured.text}"]
    assert headline(found, 0, 0, None) == "NOT CERTIFIED: 4 reasons"
    assert headline(found, 2, 1, "v1") == "NOT CERTIFIED: 4 reasons; 2 stages not up to date; 1 regression against v1"


def test_the_gate_imports_with_what_its_ci_job_installs():
    """Its CI job installs dvc, pyyaml and numpy: no torch, transformers, scipy or pandas."""
    code = ("import sys; sys.modules.update(dict.fromkeys(['torch', 'transformers', 'scipy', 'pandas'])); "
            "import rankcert.tools.pre_release; print('ok')")
    assert sh(PROJECT, sys.executable, "-c", code).stdout.strip() == "ok"


def test_the_gate_reads_params_that_ask_for_a_gpu_without_torch(tmp_path):
    """The gate judges a certificate; it runs no stage, so runtime.device: cuda asks nothing of its machine."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["runtime"]["device"] = "cuda"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = ("import sys; sys.modules.update(dict.fromkeys(['torch', 'transformers', 'scipy', 'pandas'])); "
            "from rankcert.validation import check_inputs; "
            f"print(check_inputs(__import__('pathlib').Path({str(tmp_path / 'params.yaml')!r}), here=False)[0]"
            ".runtime.device)")
    assert sh(PROJECT, sys.executable, "-c", code).stdout.strip() == "cuda"


def test_a_changed_dependency_that_is_another_stale_stages_output_is_not_a_cause():
    status = {"dvc.yaml:validate": [{"changed deps": {"params.yaml": "modified"}},
                                    {"changed outs": {"data/inputs/validated.json": "deleted"}}],
              "seeds/probe/dvc.yaml:probe@42": [{"changed deps": {"data/inputs": "modified"}}],
              "dvc.yaml:certify": [{"changed deps": {"data/inputs": "modified", "metrics/eval": "modified"}}],
              "seeds/evaluate/dvc.yaml:evaluate@42": [{"changed outs": {"metrics/eval/42": "modified"}}]}
    outputs = {"validate": ["data/inputs/validated.json"], "evaluate@42": ["data/eval/42", "metrics/eval/42"]}
    lines, downstream = stale_stages(stage_changes(status, allow_missing_data=False), outputs)
    assert lines == ["validate (changed deps: params.yaml modified; changed outs: data/inputs/validated.json deleted)",
                     "evaluate@42 (changed outs: metrics/eval/42 modified)"]
    assert downstream == 2
    missing = stage_changes({"seeds/probe/dvc.yaml:probe@42": [{"changed outs": {"data/probe/42": "not in cache"}}]},
                            True)
    assert missing == {}


def test_the_outputs_of_every_stage_come_from_every_lock_file(tmp_path):
    """The root's dvc.lock and each per-seed kind's: a stale seed stage's outputs are found in its own."""
    layout = Layout(tmp_path)
    lock = {"schema": "2.0", "stages": {"validate": {"outs": [{"path": "data/inputs/validated.json"}]}}}
    layout.lock_files[0].write_text(yaml.safe_dump(lock))
    seed_lock = layout.seed_pipeline("evaluate").with_suffix(".lock")
    seed_lock.parent.mkdir(parents=True)
    seed_lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"evaluate@42": {"outs": [
        {"path": "data/eval/42"}, {"path": "metrics/eval/42"}]}}}))
    assert lock_outputs(layout.lock_files) == {"validate": ["data/inputs/validated.json"],
                                              "evaluate@42": ["data/eval/42", "metrics/eval/42"]}


def test_the_release_workflow_runs_this_gate_into_the_job_summary_and_keeps_the_pictures():
    workflow = yaml.safe_load((PROJECT / ".github/workflows/pre-release.yml").read_text())
    steps = workflow["jobs"]["pre-release"]["steps"]
    gate_step = next(step["run"] for step in steps if "rankcert.tools.pre_release" in step.get("run", ""))
    assert '--summary "$GITHUB_STEP_SUMMARY"' in gate_step
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "metrics/figures/" in upload["with"]["path"]
