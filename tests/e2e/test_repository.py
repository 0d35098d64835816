"""The repository itself as a user clones it: a DVC repo at the root, and the canonical run's first failure offline."""
import os

import pytest

from tests.helpers import PROJECT, sh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clone") / "rankcert"
    sh(PROJECT.parent, "git", "clone", "-q", str(PROJECT), str(folder))
    return folder


def test_dvc_dag_and_status_work_at_the_root(clone):
    dag = sh(clone, "dvc", "dag")
    for stage in ("prepare@42", "probe@456", "compress@123", "evaluate@42", "certify"):
        assert stage in dag.stdout
    status = sh(clone, "dvc", "status")
    assert "certify" in status.stdout  # never run here: every stage is reported, nothing fails


def test_canonical_repro_offline_ends_with_the_one_line_model_message(clone):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    result = sh(clone, "dvc", "repro", "seeds/prepare/dvc.yaml:prepare@42", check=False, env=env)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("rankcert: error:")]
    assert len(ours) == 1 and "set model.name to a local model directory" in ours[0]
    assert "Traceback" not in result.stderr and "not inside of a DVC repository" not in result.stderr
