"""The import contracts in pyproject.toml (`make lint` runs them): kept by the package, broken by one bad import."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PROJECT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """The contracts run on the package under `root` (lint-imports reads the package from its working folder)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """The package and its contracts copied under tmp_path, `line` added at the end of `module`."""
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    shutil.copytree(PROJECT / "rankcert", tmp_path / "rankcert", ignore=shutil.ignore_patterns("__pycache__"))
    with (tmp_path / module).open("a") as f:
        f.write(f"\n{line}\n")
    return tmp_path


def test_the_package_keeps_its_contracts():
    found = lint_imports(PROJECT)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "0 broken" in found.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("rankcert/runtime/text.py", "from rankcert.certification import stats",
     "rankcert.runtime is not allowed to import rankcert.certification"),
    ("rankcert/training/spectra.py", "import rankcert.compression.jobs",
     "rankcert.training is not allowed to import rankcert.compression"),
    ("rankcert/certification/words.py", "import pandas",  # the certificate reader imports words
     "rankcert.certification.certificate is not allowed to import pandas"),
], ids=["runtime-imports-certification", "training-imports-compression", "gate-reaches-pandas"])
def test_one_import_against_the_order_breaks_lint(tmp_path, module, line, broken):
    found = lint_imports(copy_with(tmp_path, module, line))
    assert found.returncode != 0
    assert broken in found.stdout, found.stdout + found.stderr
