"""Settings from the environment: read in one module, documented there and in docs/settings.md, each one checked."""
import os
import re
import subprocess
import sys

import pytest

from rankcert.runtime import settings
from rankcert.runtime.errors import RankcertError
from tests.helpers import PROJECT


@pytest.fixture(autouse=True)
def no_settings(monkeypatch):
    for name in [n for n in os.environ if n.startswith("RANKCERT_")]:
        monkeypatch.delenv(name)


def test_no_module_but_settings_reads_a_rankcert_variable():
    readers = []
    for path in sorted((PROJECT / "rankcert").rglob("*.py")) + sorted((PROJECT / "stages").glob("*.py")):
        if path.name == "settings.py":
            continue
        if re.search(r"environ\.get\(\s*[\"']RANKCERT_|environ\[[\"']RANKCERT_\w+[\"']\](?!\s*=)", path.read_text()):
            readers.append(path.relative_to(PROJECT).as_posix())
    assert readers == []


def test_every_setting_is_documented_in_the_docs_and_checked():
    documented = (PROJECT / "docs" / "settings.md").read_text()
    assert [name for name in settings.VARIABLES if f"`{name}`" not in documented] == []
    assert len(settings.READERS) == len(settings.VARIABLES)


def test_unset_or_empty_means_the_default(monkeypatch):
    monkeypatch.setenv("RANKCERT_GPU_SLOTS", "  ")
    assert (settings.checkpoint_every(), settings.concurrent_trainings(), settings.gpu_slots()) == (0, 0, 1)
    assert settings.gpu_lease_dir() == settings.Path("/tmp/rankcert-gpu-leases")
    assert settings.worker_enabled() and not settings.debug()
    assert settings.worker_idle_s(300.0) == 300.0 and settings.stage_start() is None
    settings.check()


def refused(monkeypatch, name: str, value: str, reader) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(RankcertError) as err:
        reader()
    message = str(err.value)
    assert name in message and repr(value.strip()) in message and "it takes" in message and "\n" not in message
    return message


WHOLE_NUMBERS = [("RANKCERT_CHECKPOINT_EVERY", settings.checkpoint_every, 0),
                 ("RANKCERT_CONCURRENT_TRAININGS", settings.concurrent_trainings, 0),
                 ("RANKCERT_GPU_SLOTS", settings.gpu_slots, 1)]


@pytest.mark.parametrize("name,reader,least", WHOLE_NUMBERS)
def test_whole_number_settings_take_digits_from_their_least(monkeypatch, name, reader, least):
    for value, expected in ((str(least), least), (f" {least + 10} ", least + 10), ("+3", 3), ("007", 7)):
        monkeypatch.setenv(name, value)
        assert reader() == expected
    for value in ("ten", "-2", "2.5", "1e3", "3 steps", "0x10", str(least - 1)):
        refused(monkeypatch, name, value, reader)


def test_gpu_slots_refuses_the_spellings_the_issue_names(monkeypatch):
    for value in ("abc", "0", "-1", "2.5"):
        assert "at least 1" in refused(monkeypatch, "RANKCERT_GPU_SLOTS", value, settings.gpu_slots)


@pytest.mark.parametrize("name,reader,default", [("RANKCERT_WORKER", settings.worker_enabled, True),
                                                 ("RANKCERT_DEBUG", settings.debug, False)])
def test_switches_take_on_and_off_spellings_only(monkeypatch, name, reader, default):
    for value in ("1", "on", "YES", "True"):
        monkeypatch.setenv(name, value)
        assert reader() is True
    for value in ("0", "OFF", "no", "false"):
        monkeypatch.setenv(name, value)
        assert reader() is False
    for value in ("offf", "2", "enabled", "o"):
        refused(monkeypatch, name, value, reader)


def test_seconds_are_finite_and_above_zero(monkeypatch):
    for value, expected in (("0.5", 0.5), ("120", 120.0), ("1e3", 1000.0)):
        monkeypatch.setenv("RANKCERT_WORKER_IDLE", value)
        assert settings.worker_idle_s(300.0) == expected
    for value in ("5min", "0", "-1", "nan", "inf", "soon"):
        refused(monkeypatch, "RANKCERT_WORKER_IDLE", value, lambda: settings.worker_idle_s(300.0))
    monkeypatch.setenv("RANKCERT_STAGE_START", repr(1767225600.25))
    assert settings.stage_start() == 1767225600.25
    for value in ("abc", "-5", "0"):
        refused(monkeypatch, "RANKCERT_STAGE_START", value, settings.stage_start)


@pytest.mark.parametrize("name,reader", [("RANKCERT_GPU_LEASE_DIR", settings.gpu_lease_dir),
                                         ("RANKCERT_WORKER_DIR", settings.worker_dir)])
def test_folders_are_absolute_and_not_files(monkeypatch, tmp_path, name, reader):
    monkeypatch.setenv(name, str(tmp_path / "new"))
    assert reader() == tmp_path / "new"  # made when first used
    (tmp_path / "file").write_text("")
    for value in ("relative/dir", str(tmp_path / "file")):
        refused(monkeypatch, name, value, reader)


def test_check_names_every_problem_and_unknown_names_in_one_line(monkeypatch):
    monkeypatch.setenv("RANKCERT_CHECKPOINT_EVRY", "50")
    monkeypatch.setenv("RANKCERT_CHECKPOINT_EVERY", "ten")
    monkeypatch.setenv("RANKCERT_WORKER", "offf")
    with pytest.raises(RankcertError) as err:
        settings.check()
    message = str(err.value)
    assert "RANKCERT_CHECKPOINT_EVRY is not a rankcert setting; did you mean RANKCERT_CHECKPOINT_EVERY?" in message
    assert "RANKCERT_CHECKPOINT_EVERY='ten'" in message and "RANKCERT_WORKER='offf'" in message
    assert "\n" not in message


@pytest.mark.parametrize("command", [["-m", "rankcert.worker", "run", "stages.code"],
                                     ["-m", "rankcert.worker", "status"],
                                     ["-m", "stages.code"]])
def test_an_entry_point_with_a_malformed_setting_prints_one_line(tmp_path, command):
    """RANKCERT_STAGE_START used to be read at import: every entry point, the worker client included, crashed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKCERT_")}
    env.update(RANKCERT_STAGE_START="abc", RANKCERT_WORKER_DIR=str(tmp_path / "run"), PYTHONPATH=str(PROJECT))
    result = subprocess.run([sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["rankcert: error: RANKCERT_STAGE_START='abc' is not valid: it takes a time "
                                          "in seconds since the epoch (the warm worker sets it) (unset for the "
                                          "default)"]
    assert not (tmp_path / "run").exists() and "Traceback" not in result.stdout
