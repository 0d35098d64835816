"""Settings from the environment: read in one module, every one documented there and in the README."""
import re

from rankcert import settings
from tests.helpers import PROJECT


def test_no_module_but_settings_reads_a_rankcert_variable():
    readers = []
    for path in sorted((PROJECT / "rankcert").rglob("*.py")) + sorted((PROJECT / "stages").glob("*.py")):
        if path.name == "settings.py":
            continue
        if re.search(r"environ\.get\(\s*[\"']RANKCERT_|environ\[[\"']RANKCERT_\w+[\"']\](?!\s*=)", path.read_text()):
            readers.append(path.relative_to(PROJECT).as_posix())
    assert readers == []


def test_every_setting_is_documented_in_the_readme():
    readme = (PROJECT / "README.md").read_text()
    assert [name for name in settings.VARIABLES if f"`{name}`" not in readme] == []


def test_a_setting_gives_its_default_when_unset_or_malformed(monkeypatch):
    monkeypatch.delenv("RANKCERT_GPU_SLOTS", raising=False)
    assert settings.gpu_slots() == 1
    monkeypatch.setenv("RANKCERT_GPU_SLOTS", "two")
    assert settings.gpu_slots() == 1
    monkeypatch.setenv("RANKCERT_WORKER_IDLE", "soon")
    assert settings.worker_idle_s(300.0) == 300.0
    monkeypatch.setenv("RANKCERT_WORKER", "OFF")
    assert not settings.worker_enabled()
