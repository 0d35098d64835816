"""make settle on the demo profile: seeds added look by look, a commit per look, resumable."""
import shutil
import sys

import pytest
import yaml

from rankcert.runtime.layout import LAYOUT
from tests.e2e.conftest import read_certificate
from tests.helpers import commit, ran_stages, sh

pytestmark = pytest.mark.e2e


def test_settle_adds_the_next_look_seeds_commits_each_look_and_resumes(reproduced, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(reproduced[0], ws, symlinks=True)
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["certify"]["population"]["looks"] = [2, 3]  # one seed more at most: CI time
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit(ws, "looks 2, 3")
    # the first run declared looks 2, 4, 8 and read the look at 2: settle refuses params that depart from that plan
    refused = sh(ws, sys.executable, "-m", "rankcert.tools.settle", check=False)
    assert refused.returncode == 2 and "looks [2, 4, 8] → [2, 3]" in refused.stderr and "Running" not in refused.stdout
    # a new plan, deliberately: both files deleted in a commit (docs/plan.md); the next read declares looks 2, 3
    sh(ws, "git", "rm", "-q", LAYOUT.certify_plan.as_posix(), LAYOUT.certify_looks.as_posix())
    commit(ws, "a new plan: looks 2, 3")
    result = sh(ws, sys.executable, "-m", "rankcert.tools.settle")
    assert "[settle] look 1 of 2: 2 seeds" in result.stdout
    log = sh(ws, "git", "log", "--format=%s").stdout.splitlines()
    found = read_certificate(ws)
    assert all(v.population in ("SAFE", "UNSAFE", "UNSETTLED") for v in found.metrics.variants.values())
    assert found.details.plan.exploratory is None and found.details.plan.declared.looks == [2, 3]
    if "every population verdict settled at 2 seeds" in result.stdout:
        assert log[0].startswith("settle look 1 of 2, 2 seeds: ")
        return
    # the second look: seed 1000 added, only its stages and certify run, and the look is a commit
    assert "[settle] look 2 of 2: 3 seeds (1 added: 1000..1000)" in result.stdout
    assert yaml.safe_load((ws / "params.yaml").read_text())["seeds"] == [42, 123, 1000]
    assert log[0].startswith("settle look 2 of 2, 3 seeds: ") and "per_layer " in log[0]
    assert ran_stages(result.stdout).count("probe@42") == 0 and "probe@1000" in ran_stages(result.stdout)
    assert {v.population.seeds for v in found.details.variants.values()} == {3}
    # the commit lists every look read under the plan, by its hash
    body = sh(ws, "git", "log", "-1", "--format=%b").stdout
    assert f"plan sha256 {found.details.plan.sha256}; looks read:" in body
    assert "- 2 seeds (42, 123): per_layer " in body and "- 3 seeds (42, 123, 1000): per_layer " in body
    assert sh(ws, "git", "status", "--porcelain", "--untracked-files=no").stdout == ""
    # run again: it resumes at the look params.yaml is at, and nothing reruns
    again = sh(ws, sys.executable, "-m", "rankcert.tools.settle")
    assert "[settle] look 2 of 2: 3 seeds" in again.stdout and "Running stage" not in again.stdout

