"""A demo workspace (git + DVC, generated model and data) reproduced once and shared by the e2e tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from rankcert.certification import certificate
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from tests.helpers import commit, sh

E2E_OVERRIDES = {"train": {"steps": 40, "log_every": 5}}


def make_workspace(folder: Path) -> Path:
    params = demo.deep_merge(demo.demo_params(), E2E_OVERRIDES)
    return demo.create_workspace(folder, params)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """(workspace, output of the first `dvc repro`), committed."""
    ws = make_workspace(tmp_path_factory.mktemp("e2e") / "ws")
    result = sh(ws, "dvc", "repro")
    commit(ws, "first run")
    return ws, result.stdout + result.stderr


def read_certificate(ws: Path) -> certificate.Certificate:
    return certificate.read(ws / LAYOUT.certificate, ws / LAYOUT.certificate_details)
