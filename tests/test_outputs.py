"""Atomic outputs: whole files or none, and the permissions the umask gives (not mkstemp's 0600)."""
import os

import pytest

from rankcert.errors import RankcertError
from rankcert.outputs import atomic_dir, write_json, write_text


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

    monkeypatch.setattr("rankcert.outputs.tempfile.mkstemp", refused)
    with pytest.raises(RankcertError, match="cannot write metrics/x.json: permission denied on metrics"):
        write_text("metrics/x.json", "{}")
