"""A demo workspace (git + DVC, generated model and data) reproduced once and shared by the e2e tests."""
from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from rankcert.certification import certificate
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from tests.helpers import adapter_digests, commit, read_metrics, sh

# one torch thread a stage: the parallel e2e runs two seeds at once on two cores, and its results must be the
# bytes of this serial run (CPU bytes depend on the thread count)
E2E_OVERRIDES = {"train": {"steps": 40, "log_every": 5}, "runtime": {"cpu_threads": 1}}


@dataclass(frozen=True)
class FirstRun:
    """The shared workspace's first `dvc repro`: what it printed and wrote, read before any test changes it."""
    ws: Path  # this test process's copy: tests may change it
    built: Path  # the workspace as the first run left it, never changed: clone or copy it for a test's own
    output: str
    metrics: dict[str, bytes]
    adapters: dict[str, str]
    report: bytes


def make_workspace(folder: Path) -> Path:
    params = demo.deep_merge(demo.demo_params(), E2E_OVERRIDES)
    return demo.create_workspace(folder, params)


@pytest.fixture(scope="session")
def first_run(tmp_path_factory) -> FirstRun:
    """The demo workspace every e2e test shares, reproduced and committed once per test run and never changed
    after; each test process gets a copy of its own (pytest-xdist: the process that needs it first builds it)."""
    built = shared_build(tmp_path_factory)
    ws = tmp_path_factory.mktemp("e2e") / "ws"
    shutil.copytree(built / "ws", ws, symlinks=True)  # git and DVC keep relative paths
    original = built / "ws"
    return FirstRun(ws, original, (built / OUTPUT).read_text(), read_metrics(original), adapter_digests(original),
                    (original / LAYOUT.report).read_bytes())


OUTPUT = "repro-output.txt"  # written last: the build is complete


def shared_build(tmp_path_factory) -> Path:
    """The folder holding the one reproduced workspace (ws/) and its `dvc repro` output, made under a lock in
    the run's base folder, which every pytest-xdist process of the run shares (and no other run)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if worker else base) / "e2e-first-run"
    folder.mkdir(exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait for it
        if not (folder / OUTPUT).exists():
            shutil.rmtree(folder / "ws", ignore_errors=True)  # a build that failed halfway
            ws = make_workspace(folder / "ws")
            result = sh(ws, "dvc", "repro")
            commit(ws, "first run")
            (folder / OUTPUT).write_text(result.stdout + result.stderr)
    return folder


@pytest.fixture(scope="session")
def reproduced(first_run):
    """(workspace, output of the first `dvc repro`): tests may change it; first_run keeps what it first wrote."""
    return first_run.ws, first_run.output


def read_certificate(ws: Path) -> certificate.Certificate:
    return certificate.read(ws / LAYOUT.certificate, ws / LAYOUT.certificate_details)
