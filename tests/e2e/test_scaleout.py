"""Scaling out with DVC's own mechanisms: parallel per-seed `dvc repro`s in one workspace, and shards on
several clones merged through a shared remote's run-cache."""
from __future__ import annotations

import os
import shutil
import sys

import pytest

from rankcert.runtime.layout import LAYOUT
from rankcert.tools.parallel import seed_targets
from tests.e2e.conftest import make_workspace
from tests.helpers import adapter_digests, commit, ran_stages, read_metrics, sh

pytestmark = pytest.mark.e2e

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")


def test_parallel_seeds_rerun_every_stage_to_the_serial_first_runs_bytes(first_run, tmp_path):
    """A git clone of the first run (no DVC output, no cache) with its assets, certify's outputs in git removed too:
    every stage runs again, the seeds at once, and writes the first run's bytes, so git sees nothing changed
    (dvc.lock: every output's hash; the committed metrics, report and figures) and `dvc metrics diff` is empty."""
    ws = tmp_path / "ws"
    sh(tmp_path, "git", "clone", "-q", str(first_run.built), str(ws))
    shutil.copytree(first_run.built / "assets", ws / "assets")  # git ignores them
    assert not (ws / "data").exists()  # nothing to restore: each stage runs
    for path in (LAYOUT.certificate, LAYOUT.certificate_details, LAYOUT.report):  # the plan and its looks stay
        (ws / path).unlink()
    for folder in (LAYOUT.variant_metrics, LAYOUT.figures, LAYOUT.plot_data):
        shutil.rmtree(ws / folder)
    result = sh(ws, sys.executable, "-m", "rankcert.tools.parallel", "--jobs", "2", env=ENV)
    assert "[seed 42] Running stage 'seeds/probe/dvc.yaml:probe@42'" in result.stdout
    assert "[seed 123] Running stage" in result.stdout
    # the rest ran inside the per-seed processes
    assert set(ran_stages(result.stdout)) == {"code", "validate", "track@model", "track@data", "plots_page", "certify"}
    assert sh(ws, "git", "status", "--porcelain").stdout == ""
    assert read_metrics(ws) == first_run.metrics and (ws / LAYOUT.report).read_bytes() == first_run.report
    assert adapter_digests(ws) == first_run.adapters and len(first_run.adapters) == 24
    assert sh(ws, "dvc", "metrics", "diff", "--json").stdout.strip() in ("", "{}")


def test_a_failed_seed_stops_the_others_and_is_named(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    dies = dict(ENV, RANKCERT_KILL_BEFORE_RENAME="data/prepared/123")  # seed 123's first stage dies as it writes
    result = sh(ws, sys.executable, "-m", "rankcert.tools.parallel", "--jobs", "2", check=False, env=dies)
    assert result.returncode == 2
    assert "rankcert: error: seed 123 failed" in result.stderr
    assert "stopped seed(s) [42]" in result.stderr  # seed 42 was still running: it is stopped, not left to finish
    assert not (ws / "metrics" / "certify.json").exists()  # nothing certified from a partial run


def test_shards_on_two_clones_merge_through_the_run_cache(first_run, tmp_path):
    origin = make_workspace(tmp_path / "origin")
    (origin / ".gitignore").write_text("/data/\n/.rankcert-tmp/\n__pycache__/\n")  # the clones need the assets
    sh(origin, "dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    commit(origin, "assets and a shared remote")
    for name, seed in (("a", 42), ("b", 123)):  # machine A runs seed 42, machine B seed 123
        clone = tmp_path / name
        sh(tmp_path, "git", "clone", "-q", str(origin), str(clone))
        assert len(ran_stages(sh(clone, "dvc", "repro", *seed_targets(seed), env=ENV).stdout)) == 8
        sh(clone, "dvc", "push", "--run-cache")
    aggregator = tmp_path / "aggregator"
    sh(tmp_path, "git", "clone", "-q", str(origin), str(aggregator))
    result = sh(aggregator, "dvc", "repro", "--pull", env=ENV)
    assert sorted(ran_stages(result.stdout)) == ["certify", "plots_page"]  # every per-seed stage restored, nothing retrained
    assert result.stdout.count("is cached - skipping run") == 12  # code, validate, 2 tracks and the 8 per-seed stages
    assert read_metrics(aggregator) == first_run.metrics
