"""Scaling out with DVC's own mechanisms: parallel per-seed `dvc repro`s in one workspace, and shards on
several clones merged through a shared remote's run-cache."""
from __future__ import annotations

import os
import sys

import pytest

from rankcert.runtime.layout import LAYOUT
from rankcert.tools.parallel import seed_targets
from tests.e2e.conftest import make_workspace
from tests.helpers import adapter_digests, commit, ran_stages, read_metrics, sh

pytestmark = pytest.mark.e2e

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")


def test_parallel_seeds_give_the_serial_results(first_run, tmp_path):
    ws = make_workspace(tmp_path / "ws")  # the shared workspace's params (one torch thread a stage)
    result = sh(ws, sys.executable, "-m", "rankcert.tools.parallel", "--jobs", "2", env=ENV)
    assert "[seed 42] Running stage 'probe@42'" in result.stdout and "[seed 123] Running stage" in result.stdout
    # the rest ran inside the per-seed processes
    assert set(ran_stages(result.stdout)) == {"code", "validate", "track@model", "track@data", "plots_page", "certify"}
    assert read_metrics(ws) == first_run.metrics and adapter_digests(ws) == first_run.adapters
    assert (ws / LAYOUT.report).read_bytes() == first_run.report


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
