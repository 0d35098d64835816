"""rankcert verify on the demo: a fresh clone pulls the release's predictions and records from a DVC directory
remote and verifies every figure; a file the lock covers but verify does not re-derive is caught by the lock."""
import shutil
import sys

import pytest

from rankcert.tools import verify
from rankcert.verification.workspace import Mismatch
from tests.helpers import commit, sh

pytestmark = pytest.mark.e2e


def test_the_demo_is_verified_in_a_fresh_clone_after_a_dvc_remote_round_trip(reproduced, tmp_path):
    source = tmp_path / "ws"
    shutil.copytree(reproduced[0], source, symlinks=True)  # the shared workspace keeps its config
    sh(source, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    commit(source, "a directory remote")
    sh(source, "dvc", "push", "-q")
    sh(tmp_path, "git", "clone", "-q", str(source), "fresh")
    fresh = tmp_path / "fresh"
    assert not (fresh / "data").exists()  # nothing DVC tracks comes with git
    result = sh(fresh, sys.executable, "-m", "rankcert.tools.verify", "--pull")
    line = result.stdout.splitlines()[0]
    assert line.startswith("verified: 2 seeds, 5 variants, ") and "from 12 adapters' predictions" in line, line
    assert "; the data is what dvc.lock records certify read; " in line
    with (fresh / "metrics/report.md").open("a") as report:  # not re-derived, but one of certify's outputs
        report.write("\nCERTIFIED after all.\n")
    with pytest.raises(Mismatch, match=r"dvc.lock: the workspace is not what certify read \(.*metrics/report.md modified"):
        verify.check_lock(fresh)
