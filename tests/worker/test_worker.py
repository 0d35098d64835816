"""The warm worker on toy stage modules: exit codes, stdio, edits picked up, environments, kills, recovery."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rankcert.worker import environment_key, worker_paths
from tests.helpers import PROJECT

TOYS = {
    "echo": """
        import os, sys
        print("out", os.getpid(), os.getcwd(), "torch" in sys.modules, sys.argv[1:], flush=True)
        print("err", os.environ.get("TOY"), file=sys.stderr, flush=True)
        sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    """,
    "slow_write": """
        import sys, time
        from pathlib import Path
        print("started", flush=True)
        time.sleep(float(sys.argv[1]))
        Path("written.txt").write_text("done")
    """,
    "crash": """
        import os, signal
        os.kill(os.getpid(), signal.SIGSEGV)
    """,
    "cuda_state": """
        import sys, torch
        if sys.argv[1:] == ["use"]:
            torch.zeros(1, device="cuda").sum().item()
        print("cuda initialised in child:", torch.cuda.is_initialized(), flush=True)
    """,
}


@pytest.fixture(scope="module")
def toy_project(tmp_path_factory):
    """A project folder with a copy of rankcert and toy stage modules, and a private worker folder."""
    root = tmp_path_factory.mktemp("toy")
    shutil.copytree(PROJECT / "rankcert", root / "rankcert", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "stages").mkdir()
    (root / "stages" / "__init__.py").write_text("")
    for name, body in TOYS.items():
        (root / "stages" / f"{name}.py").write_text(textwrap.dedent(body))
    env = dict(os.environ, RANKCERT_WORKER_DIR=str(root / "run"), RANKCERT_WORKER_IDLE="120")
    env.pop("RANKCERT_WORKER", None)
    yield root, env
    subprocess.run([sys.executable, "-m", "rankcert.worker", "stop"], cwd=root, env=env, capture_output=True)


def stage(root: Path, env: dict, *argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rankcert.worker", "run", *argv], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


def ping(root: Path, env: dict) -> dict:
    """The worker's own description, asked from a process that has `env` (so the same key)."""
    code = ("import json, os; from rankcert.worker import environment_key, worker_paths; "
            "from rankcert.runtime.services import connect; "
            "c = connect(worker_paths(environment_key(dict(os.environ))).socket); c.send({'op': 'ping'}); "
            "print(json.dumps(c.receive()[0]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_stage_output_exit_code_and_environment_pass_through(toy_project):
    root, env = toy_project
    result = stage(root, dict(env, TOY="hello"), "stages.echo", "3")
    assert result.returncode == 3
    assert f"{root}" in result.stdout and "True ['3']" in result.stdout  # torch preloaded; cwd and argv passed
    assert "err hello" in result.stderr


def test_worker_is_single_threaded_and_never_initialised_cuda(toy_project):
    root, env = toy_project
    assert stage(root, env, "stages.cuda_state").returncode == 0
    info = ping(root, env)
    assert info["threads"] == 1 and info["cuda_initialized"] is False
    assert "torch" in info["preloaded"] and "peft" in info["preloaded"]


def test_an_edit_to_a_project_module_is_picked_up_without_a_restart(toy_project):
    root, env = toy_project
    first = stage(root, env, "stages.echo")
    pid = ping(root, env)["pid"]
    module = root / "stages" / "edited.py"
    module.write_text("print('version 1')\n")
    assert stage(root, env, "stages.edited").stdout.strip() == "version 1"
    module.write_text("print('version 2')\n")
    assert stage(root, env, "stages.edited").stdout.strip() == "version 2"
    assert ping(root, env)["pid"] == pid and first.returncode == 0


def test_a_changed_environment_gets_its_own_worker(toy_project):
    root, env = toy_project
    stage(root, env, "stages.echo")
    other = dict(env, HF_HUB_OFFLINE="0" if env.get("HF_HUB_OFFLINE") == "1" else "1")
    assert stage(root, other, "stages.echo").returncode == 0
    assert ping(root, env)["pid"] != ping(root, other)["pid"]
    assert environment_key(env) != environment_key(other)
    # torch fixes its CPU thread count at import: a worker imported with another count is another worker
    assert environment_key(dict(env, OMP_NUM_THREADS="1")) != environment_key(dict(env, OMP_NUM_THREADS="2"))


def test_sigkill_of_the_client_stops_the_stage_and_nothing_is_written(toy_project):
    root, env = toy_project
    (root / "written.txt").unlink(missing_ok=True)
    client = subprocess.Popen([sys.executable, "-m", "rankcert.worker", "run", "stages.slow_write", "3"], cwd=root,
                              env=env, stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "started"
    client.kill()
    client.wait()
    deadline = time.monotonic() + 2.0
    while ping(root, env)["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ping(root, env)["running"] == 0
    time.sleep(3.5)
    assert not (root / "written.txt").exists()


def test_sigterm_of_the_client_reaches_the_stage(toy_project):
    root, env = toy_project
    client = subprocess.Popen([sys.executable, "-m", "rankcert.worker", "run", "stages.slow_write", "30"], cwd=root,
                              env=env, stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "started"
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=10) == -signal.SIGTERM


def test_two_clients_at_once_share_one_worker(toy_project):
    root, env = toy_project
    clients = [subprocess.Popen([sys.executable, "-m", "rankcert.worker", "run", "stages.echo", str(code)], cwd=root,
                                env=env, stdout=subprocess.PIPE, text=True) for code in (0, 5)]
    codes = [c.wait(timeout=60) for c in clients]
    outputs = [c.stdout.read() for c in clients]
    assert codes == [0, 5] and all(out.startswith("out ") for out in outputs)
    assert len(list((root / "run").glob("w-*.sock"))) >= 1


def test_a_crashed_stage_is_reported_not_hung(toy_project):
    root, env = toy_project
    assert stage(root, env, "stages.crash").returncode == -signal.SIGSEGV


def test_a_dead_worker_is_replaced(toy_project):
    root, env = toy_project
    stage(root, env, "stages.echo")
    old = ping(root, env)["pid"]
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    assert worker_paths(environment_key(env), root / "run").socket.exists()  # left behind by the kill
    assert stage(root, env, "stages.echo").returncode == 0
    assert ping(root, env)["pid"] != old


def test_off_runs_in_the_client_process(toy_project):
    root, env = toy_project
    result = stage(root, dict(env, RANKCERT_WORKER="off"), "stages.echo")
    assert result.returncode == 0 and "False []" in result.stdout  # nothing preloaded: a plain process


def test_an_unusable_worker_folder_falls_back_with_one_line(toy_project, tmp_path):
    root, env = toy_project
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    result = stage(root, dict(env, RANKCERT_WORKER_DIR=str(shared)), "stages.echo", "4")
    assert result.returncode == 4 and "out " in result.stdout
    assert result.stderr.count("warm worker unavailable") == 1 and "mode 0700" in result.stderr



@pytest.mark.cuda
def test_children_initialise_cuda_and_the_worker_never_does(toy_project):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    root, env = toy_project
    for _ in range(2):  # a second child after the first used CUDA: the worker is still clean
        result = stage(root, env, "stages.cuda_state", "use")
        assert result.returncode == 0 and "cuda initialised in child: True" in result.stdout, result.stderr
    assert ping(root, env)["cuda_initialized"] is False
