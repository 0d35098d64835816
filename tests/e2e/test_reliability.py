"""Reliability end to end: the warm worker and a stage's own process give the same bytes; SIGKILL mid-training or
mid-write loses nothing; bad input stops before anything is lost. (A full rerun giving the first run's bytes:
test_scaleout.py.)"""
import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

from rankcert.tools import demo
from tests.helpers import adapter_digests, ran_stages, read_metrics, sh, touched_stages

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def long_probe(tmp_path_factory):
    """A workspace whose probe trains long enough (150 steps, seconds) to be killed mid-training; seed 42's probe
    run clean."""
    params = demo.deep_merge(demo.demo_params(), {"train": {"steps": 150}, "seeds": [42]})
    ws = demo.create_workspace(tmp_path_factory.mktemp("kill") / "ws", params)
    sh(ws, "dvc", "repro", "seeds/probe/dvc.yaml:probe@42")
    return ws, adapter_digests(ws)


def test_sigkill_mid_training_then_repro_gives_the_same_results(long_probe):
    ws, adapters = long_probe
    proc = subprocess.Popen(["dvc", "repro", "-f", "-s", "seeds/probe/dvc.yaml:probe@42"], cwd=ws, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    progress = re.compile(r"probe@42:\s+\d+%")  # the bar is up: the training loop has begun
    buffer = ""
    while proc.poll() is None:
        buffer += proc.stderr.read(1)
        if progress.search(buffer):
            break
    assert proc.poll() is None, "training ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ws / "data/probe/42/adapter/adapter_model.safetensors").exists()
    recover_and_compare(ws, adapters)


def recover_and_compare(ws, adapters):
    """The next repro restores the last results; a forced retrain then gives the same bytes."""
    result = sh(ws, "dvc", "repro", "seeds/probe/dvc.yaml:probe@42")
    assert "probe@42" in touched_stages(result.stdout)
    assert adapter_digests(ws) == adapters
    sh(ws, "dvc", "repro", "-f", "-s", "seeds/probe/dvc.yaml:probe@42")
    assert adapter_digests(ws) == adapters


def test_sigkill_mid_write_leaves_no_partial_output_and_repro_recovers(long_probe):
    ws, adapters = long_probe
    env = dict(os.environ, RANKCERT_KILL_BEFORE_RENAME="data/probe/42")
    killed = subprocess.run(["dvc", "repro", "-f", "-s", "seeds/probe/dvc.yaml:probe@42"], cwd=ws, env=env,
                            capture_output=True, text=True)
    assert killed.returncode != 0
    assert not (ws / "data/probe/42/adapter").exists()  # the finished scratch folder was never renamed in
    assert list((ws / ".rankcert-tmp").glob("*-42.*.tmp"))  # ...and is still there, as a kill leaves it
    recover_and_compare(ws, adapters)
    assert not list((ws / ".rankcert-tmp").glob("*-42.*.tmp"))  # the retrain cleared the leftover
    assert not [p for p in (ws / "data").rglob("*") if p.name.endswith(".tmp")]


def test_worker_and_in_process_runs_give_identical_bytes(reproduced):
    """The warm worker changes nothing: seed 42's variants trained and evaluated again in the stages' own
    processes (RANKCERT_WORKER=off) are the same files."""
    ws, _ = reproduced
    stages = ["compress@42", "evaluate@42"]  # the training loop and the predictions (the probe trains the same way)
    predictions = ws / "data/eval/42/per_layer.csv"
    before_metrics, before_adapters, before_predictions = read_metrics(ws), adapter_digests(ws), predictions.read_bytes()
    env = dict(os.environ, RANKCERT_WORKER="off")
    result = sh(ws, "dvc", "repro", "-f", "-s", *(f"seeds/{s.split('@')[0]}/dvc.yaml:{s}" for s in stages), env=env)
    assert ran_stages(result.stdout) == stages
    assert "warm worker" not in result.stderr
    assert read_metrics(ws) == before_metrics and adapter_digests(ws) == before_adapters
    assert predictions.read_bytes() == before_predictions
    # and since the retrained outputs are the same bytes (timings live outside them), nothing downstream is stale
    assert "up to date" in sh(ws, "dvc", "status").stdout


def test_a_malformed_policy_stops_at_validate_and_the_last_results_stay(reproduced):
    ws, _ = reproduced
    policy = ws / "policies" / "safe_uniform.yaml"
    good = policy.read_text()
    kept = {p: p.read_bytes() for p in [ws / "metrics/certify.json", ws / "metrics/certify_details.json",
                                        ws / "metrics/report.md",
                                        *sorted((ws / "metrics/figures").glob("*.png"))]}
    policy.write_text(good + "claims: [oops\n")
    try:
        result = sh(ws, "dvc", "repro", check=False)
        assert result.returncode != 0 and ran_stages(result.stdout) == ["validate"]
        assert "rankcert: error: policy policies/safe_uniform.yaml is not valid YAML" in result.stderr
        assert {p: p.read_bytes() for p in kept} == kept  # DVC never reached certify, so nothing was deleted
        # the gate, run as the README says inside the demo workspace: bad input, one line naming it, exit 2
        gate = sh(ws, sys.executable, "-m", "rankcert.tools.pre_release", check=False)
        assert gate.returncode == 2 and gate.stdout == "", gate.stdout + gate.stderr
        assert gate.stderr.startswith("rankcert: error: policy policies/safe_uniform.yaml is not valid YAML")
    finally:
        policy.write_text(good)
    try:  # validate's marker is gone: one stage to rerun, the rest out of date only through it
        stale = [line for line in gate_failures(ws) if "not up to date" in line]
    finally:
        assert touched_stages(sh(ws, "dvc", "repro").stdout) == ["validate"]  # the same policy: certify is current
    assert len(stale) == 1 and stale[0].startswith("FAIL pipeline not up to date: validate (changed outs: "
                                                   "data/inputs/validated.json deleted, data/params deleted); ")
    # up to date again: a two-seed demo is not certifiable, and that is what the gate says first
    assert gate_failures(ws)[0].startswith("FAIL not certified: validation level is screening+ (2 seed(s) < 3; ")


def gate_failures(ws) -> list[str]:
    result = sh(ws, sys.executable, "-m", "rankcert.tools.pre_release", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL")]


def test_certify_alone_with_bad_input_keeps_the_last_certification(reproduced):
    """`dvc repro -s certify` skips validate: certify's own refusal must find its outputs still in place."""
    ws, _ = reproduced
    params, policy = ws / "params.yaml", ws / "policies" / "safe_uniform.yaml"
    good_params, good_policy = params.read_text(), policy.read_text()
    kept = {p: p.read_bytes() for p in [ws / "metrics/certify.json", ws / "metrics/certify_details.json",
                                        ws / "metrics/report.md",
                                        *sorted((ws / "metrics/figures").glob("*.png")),
                                        *sorted((ws / "plots/data").glob("*.csv"))]}
    try:
        for broken, text in [(policy, good_policy + "claims: [oops\n"),
                             (params, good_params.replace("tolerance: 0.025", "tolerance: -0.025"))]:
            broken.write_text(text)
            result = sh(ws, "dvc", "repro", "-s", "certify", check=False)
            assert result.returncode != 0 and "rankcert: error: " in result.stderr
            assert {p: p.read_bytes() for p in kept} == kept
            broken.write_text(good_params if broken == params else good_policy)
    finally:
        params.write_text(good_params)
        policy.write_text(good_policy)


def test_certify_alone_after_params_changed_states_what_ran_and_does_not_certify(reproduced):
    """The stale recipe: params raised to the spec's after the stages ran, then `dvc repro -s certify`."""
    ws, _ = reproduced
    params = ws / "params.yaml"
    good, kept = params.read_text(), (ws / "metrics/certify.json").read_bytes()
    raised = yaml.safe_load(good)
    raised["train"]["steps"], raised["data"]["train_size"], raised["data"]["eval_size"] = 500, 2000, 500
    params.write_text(yaml.safe_dump(raised, sort_keys=False))
    try:
        result = sh(ws, "dvc", "repro", "-s", "certify")
        assert ran_stages(result.stdout) == ["certify"]
        report = (ws / "metrics/report.md").read_text()
        assert report.startswith("# rankcert certification: **NOT CERTIFIED**")
        assert ("- validation level is screening+ (2 seed(s) < 3; 40 steps < 500; 800 train examples < 2000; 300 "
                "eval examples < 500)") in report  # what ran, not the raised params
        for line in ["probe@42, compress@42, probe@123, compress@123 trained 40 steps; params say train.steps 500",
                     "prepare@42, prepare@123 drew 800 train examples; params say data.train_size 2000",
                     "evaluate@42, evaluate@123 evaluated 300 examples; params say data.eval_size 500"]:
            assert f"- the run's records disagree with params: {line}" in report
            assert line in result.stdout
        assert "- training: 40 steps, batch 16, lr 0.003, fp32" in report
    finally:
        params.write_text(good)
    sh(ws, "dvc", "repro", "-s", "certify")  # its params as they were: the certification as it was
    assert (ws / "metrics/certify.json").read_bytes() == kept


def test_a_stage_refused_under_dvc_says_how_to_restore_what_dvc_removed(reproduced):
    ws, _ = reproduced
    params = ws / "params.yaml"
    good = params.read_text()
    adapters = adapter_digests(ws)
    params.write_text(good.replace("max_length: 32", "max_length: 100000"))
    try:  # forced alone, past validate: the stage finds its params file stale and refuses
        result = sh(ws, "dvc", "repro", "-f", "-s", "seeds/prepare/dvc.yaml:prepare@42", check=False)
        assert result.returncode != 0
        assert ("rankcert: error: params.yaml changed since validate wrote data/params/prepare.json (model.max_length): "
                "run `dvc repro` so that validate checks them first") in result.stderr
        assert "`dvc checkout seeds/prepare/dvc.yaml:prepare@42` brings them back" in result.stderr
    finally:
        params.write_text(good)
    sh(ws, "dvc", "checkout", "seeds/prepare/dvc.yaml:prepare@42")
    assert "up to date" in sh(ws, "dvc", "status").stdout and adapter_digests(ws) == adapters


def test_sigkill_as_a_seeds_variants_are_written_leaves_no_partial_group_and_repro_restores_them(reproduced):
    """compress@42 writes every variant of the seed as one folder: a kill right before it moves into place leaves
    no variant half-written, and the next repro brings back the same bytes."""
    ws, _ = reproduced
    adapters = adapter_digests(ws)
    env = dict(os.environ, RANKCERT_KILL_BEFORE_RENAME="data/variants/42")
    killed = subprocess.run(["dvc", "repro", "-f", "-s", "seeds/compress/dvc.yaml:compress@42"], cwd=ws, env=env,
                            capture_output=True, text=True)
    assert killed.returncode != 0
    assert not (ws / "data/variants/42").exists()  # DVC removed the old folder; the new one never moved in
    assert not [p for p in (ws / "data").rglob("*") if p.name.endswith(".tmp")]
    assert list((ws / ".rankcert-tmp").glob("*-42.*.tmp"))  # the finished variants, never moved in
    result = sh(ws, "dvc", "repro")
    assert touched_stages(result.stdout)[:1] == ["compress@42"] and "certify" not in ran_stages(result.stdout)
    assert adapter_digests(ws) == adapters
    sh(ws, "dvc", "repro", "-f", "-s", "validate")  # restored from the run-cache: the next stage that runs clears it
    assert not list((ws / ".rankcert-tmp").glob("*.tmp"))
