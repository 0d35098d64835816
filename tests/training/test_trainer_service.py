"""The GPU trainer (rankcert.training.trainer_service), run on the CPU (RANKCERT_TRAINER=all): two seeds' compress
stages in processes of their own send it their trainings at once, and each gets the bytes it makes training alone."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from rankcert.runtime.layout import LAYOUT
from rankcert.runtime.services import connect
from rankcert.training.trainer_service import trainer_key, trainer_paths
from rankcert.worker import __main__ as worker_command
from stages import compress, probe
from tests.helpers import prepare_seeds

SEEDS = (5, 6)


@pytest.fixture
def project(tmp_path, raw_params, monkeypatch):
    """Two prepared seeds and their probes, three retrained variants with dropout on; a private folder for the
    trainer's socket."""
    monkeypatch.chdir(tmp_path)
    prepare_seeds(tmp_path, raw_params, SEEDS, steps=6, log_every=2, variants=["uniform_r4", "uniform_r8", "per_layer"])
    monkeypatch.setenv("RANKCERT_TRAINER", "off")
    for seed in SEEDS:
        probe.main(["--seed", str(seed)])
    env = dict(os.environ, RANKCERT_WORKER="off", RANKCERT_WORKER_DIR=str(tmp_path / "run"), RANKCERT_WORKER_IDLE="30",
               PYTHONPATH=os.pathsep.join(sys.path))
    monkeypatch.setenv("RANKCERT_WORKER_DIR", str(tmp_path / "run"))
    return tmp_path, env


def hashes(root) -> dict[str, str]:
    files = [f for seed in SEEDS for f in sorted((root / LAYOUT.variants(seed)).rglob("*")) if f.is_file()]
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def on_trainer(root, env) -> dict[str, str]:
    """compress of both seeds at once, each stage in a process of its own."""
    procs = [subprocess.Popen([sys.executable, "-m", "stages.compress", "--seed", str(seed)], cwd=root,
                              env=dict(env, RANKCERT_TRAINER="all"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for seed in SEEDS]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "GPU trainer unavailable" not in out, out
    return hashes(root)


def alone(root, monkeypatch) -> dict[str, str]:
    """The same stages in this process, one after another, each training its own adapters."""
    monkeypatch.setenv("RANKCERT_TRAINER", "off")
    for seed in SEEDS:
        compress.main(["--seed", str(seed)])
    return hashes(root)


def ask(paths, request: dict) -> dict:
    channel = connect(paths.socket)
    channel.send(request)
    return channel.receive()[0]


def test_stages_training_at_once_on_the_trainer_write_the_bytes_they_write_alone(project, monkeypatch, capsys):
    root, env = project
    trained_there = on_trainer(root, env)
    paths = trainer_paths(trainer_key(env, "cpu"))
    assert all(f"compress@{seed}: 3 training(s) queued" in paths.log.read_text() for seed in SEEDS)
    assert not list((root / ".rankcert-tmp" / "trainer").rglob("*.safetensors"))  # each result file taken back
    # a bad request gets its one line back, and the trainer serves on
    refused = ask(paths, {"op": "train", "train": {"label": "x@5", "seed": 5, "recipe": {}, "jobs": [], "data": "-",
                                                   "out": "."}})
    assert refused == {"event": "error", "message": "missing key 'train.recipe.model'"}
    assert ask(paths, {"op": "ping"})["in_flight"] == 0
    assert worker_command.status(stop=True) == 0  # what `python -m rankcert.worker stop` runs
    stopped = capsys.readouterr().out
    assert f"trainer {paths.key}: pid" in stopped and "stopping once they are done" in stopped
    assert not paths.socket.exists()  # the next stage starts a fresh trainer
    assert trained_there == alone(root, monkeypatch)
    assert any(name.endswith("uniform_r8/adapter/adapter_model.safetensors") for name in trained_there)
