"""A demo workspace (git + DVC, generated model and data) reproduced once and shared by the e2e tests."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stages import demo

E2E_OVERRIDES = {"train": {"steps": 40, "log_every": 5}}


def sh(cwd: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def commit(cwd: Path, message: str) -> None:
    sh(cwd, "git", "add", "-A")
    sh(cwd, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def read_metrics(cwd: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cwd)): p.read_bytes() for p in sorted((cwd / "metrics").rglob("*.json"))}


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


def certify_json(ws: Path) -> dict:
    return json.loads((ws / "metrics" / "certify.json").read_text())
