"""Every shell block README.md and docs/ mark runnable runs in the shared demo workspace, so the docs can't drift."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import runnable_blocks, sh

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda block: block.where)
def test_a_runnable_block_runs_in_the_demo_workspace_and_changes_nothing(reproduced, block):
    ws, _ = reproduced
    before = sh(ws, "git", "status", "--porcelain").stdout
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=ws, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == block.exit, f"{block.where} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert sh(ws, "git", "status", "--porcelain").stdout == before  # the tests after it share the workspace
