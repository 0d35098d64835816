"""Atomic outputs: whole files or none, and the permissions the umask gives (not mkstemp's 0600)."""
import json
import os
import subprocess
import sys

import pytest

from rankcert.runtime.errors import RankcertError
from rankcert.runtime.outputs import atomic_dir, together, write_json, write_text
from tests.helpers import PROJECT


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_and_folders_get_the_umask_permissions(tmp_path, monkeypatch, umask_022):
    monkeypatch.chdir(tmp_path)
    write_text("report.md", "hello\n")
    with atomic_dir("adapter") as scratch:
        write_json(scratch / "config.json", {"b": 1, "a": 2})
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "adapter").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "adapter" / "config.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "adapter" / "config.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_a_failed_folder_write_leaves_the_old_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with atomic_dir("out") as scratch:
        (scratch / "f").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir("out") as scratch:
        (scratch / "f").write_text("new")
        raise RuntimeError("killed mid-write")
    assert (tmp_path / "out" / "f").read_text() == "old"


def test_a_read_only_folder_is_one_clear_error(tmp_path, monkeypatch):
    """As a user without write permission sees it (simulated: the tests may run as root, who writes anywhere)."""
    monkeypatch.chdir(tmp_path)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "metrics")

    monkeypatch.setattr("rankcert.runtime.outputs.tempfile.mkstemp", refused)
    with pytest.raises(RankcertError, match="cannot write metrics/x.json: permission denied on metrics"):
        write_text("metrics/x.json", "{}")


def test_outputs_staged_together_replace_their_targets_only_when_all_are_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_text("a.csv", "old a\n")
    write_text("b.json", "old b\n")
    with pytest.raises(ValueError), together() as out:
        out.text("a.csv", "new a\n")
        raise ValueError("the second output could not be made")
    assert (tmp_path / "a.csv").read_text() == "old a\n" and (tmp_path / "b.json").read_text() == "old b\n"
    with together() as out:
        out.text("a.csv", "new a\n")
        out.json("b.json", {"new": True})
        (out.folder("figures") / "x.png").write_bytes(b"png")
    assert (tmp_path / "a.csv").read_text() == "new a\n" and json.loads((tmp_path / "b.json").read_text())
    assert (tmp_path / "figures" / "x.png").read_bytes() == b"png"
    assert not [p for p in (tmp_path / ".rankcert-tmp").rglob("*") if p.suffix == ".tmp"]  # no scratch left


HOLDS_SCRATCH = """
import sys, time
from rankcert.runtime.outputs import together
with together() as out:
    out.text("held.txt", "partial")
    (out.folder("held") / "f").write_text("partial")
    print("holding", flush=True)
    time.sleep(120)
"""


def scratch_entries(ws):
    return sorted(p.name for p in (ws / ".rankcert-tmp").glob("*.tmp"))


def next_run(ws):
    """Another stage's first write, in a process of its own."""
    subprocess.run([sys.executable, "-c", "from rankcert.runtime.outputs import write_text; write_text('other.txt', 'x')"],
                   cwd=ws, env=dict(os.environ, PYTHONPATH=str(PROJECT)), check=True)


def test_the_next_run_clears_a_killed_runs_scratch_but_never_a_running_ones(tmp_path):
    (tmp_path / ".rankcert-tmp").mkdir()
    (tmp_path / ".rankcert-tmp" / ".0123456789ab-old.json.abc123.tmp").write_text("")  # an older rankcert's
    holder = subprocess.Popen([sys.executable, "-c", HOLDS_SCRATCH], cwd=tmp_path, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(PROJECT)))
    try:
        assert holder.stdout.readline().strip() == "holding"
        held = [name for name in scratch_entries(tmp_path) if "-held" in name]
        assert len(held) == 2
        next_run(tmp_path)  # a stage running beside it (parallel seeds share the workspace) leaves its scratch
        assert scratch_entries(tmp_path) == held
    finally:
        holder.kill()  # SIGKILL: no cleanup of its own runs
        holder.wait()
    assert scratch_entries(tmp_path) == held and len(list((tmp_path / ".rankcert-tmp" / "owners").iterdir())) == 1
    next_run(tmp_path)
    assert scratch_entries(tmp_path) == [] and not (tmp_path / "held").exists()
    # the killed run's lock went too; a run that ends removes its own
    assert list((tmp_path / ".rankcert-tmp" / "owners").iterdir()) == []
