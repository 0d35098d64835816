"""A demo workspace (git + DVC, generated model and data) reproduced once and shared by the e2e tests."""
from __future__ import annotations

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
    ws: Path
    output: str
    metrics: dict[str, bytes]
    adapters: dict[str, str]
    report: bytes


def make_workspace(folder: Path) -> Path:
    params = demo.deep_merge(demo.demo_params(), E2E_OVERRIDES)
    return demo.create_workspace(folder, params)


@pytest.fixture(scope="session")
def first_run(tmp_path_factory) -> FirstRun:
    """The demo workspace every e2e test shares, reproduced once and committed."""
    ws = make_workspace(tmp_path_factory.mktemp("e2e") / "ws")
    result = sh(ws, "dvc", "repro")
    commit(ws, "first run")
    return FirstRun(ws, result.stdout + result.stderr, read_metrics(ws), adapter_digests(ws),
                    (ws / LAYOUT.report).read_bytes())


@pytest.fixture(scope="session")
def reproduced(first_run):
    """(workspace, output of the first `dvc repro`): tests may change it; first_run keeps what it first wrote."""
    return first_run.ws, first_run.output


def read_certificate(ws: Path) -> certificate.Certificate:
    return certificate.read(ws / LAYOUT.certificate, ws / LAYOUT.certificate_details)
