"""File output: every file and folder a stage writes lands atomically (temporary name, then rename)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rankcert import faults
from rankcert.errors import RankcertError

# Scratch space outside every output and dependency folder: a killed run's leftovers can't change a DVC hash.
SCRATCH = Path(".rankcert-tmp")


def _scratch(path: Path) -> tuple[Path, str]:
    """(folder, name prefix) for temporary copies of `path`; clears what a killed run left for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = SCRATCH if SCRATCH.resolve().parent.stat().st_dev == path.parent.stat().st_dev else path.parent
    root.mkdir(parents=True, exist_ok=True)
    prefix = f".{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}-{path.name}."
    for stale in root.glob(f"{prefix}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    return root, prefix


class Staged:
    """Outputs written to scratch space first; `together` moves them into place when all are complete."""

    def __init__(self):
        self.items: list[tuple[Path, Path, Path, str]] = []  # (scratch copy, target, scratch root, name prefix)

    def file(self, path: str | Path, data: bytes) -> None:
        path = Path(path)
        with _writable(path):
            root, prefix = _scratch(path)
            fd, tmp = tempfile.mkstemp(dir=root, prefix=prefix, suffix=".tmp")
        self.items.append((Path(tmp), path, root, prefix))
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: give the file the permissions open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def text(self, path: str | Path, text: str) -> None:
        self.file(path, text.encode("utf-8"))

    def json(self, path: str | Path, data: Any) -> None:
        self.text(path, to_json(data))

    def csv(self, path: str | Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
        self.text(path, csv_text(rows, columns))

    def folder(self, path: str | Path) -> Path:
        """An empty scratch folder that replaces `path` whole."""
        path = Path(path)
        with _writable(path):
            root, prefix = _scratch(path)
            scratch = Path(tempfile.mkdtemp(dir=root, prefix=prefix, suffix=".tmp"))
        scratch.chmod(0o777 & ~_umask())  # mkdtemp makes 0700: give the folder the permissions mkdir would
        self.items.append((scratch, path, root, prefix))
        return scratch


@contextlib.contextmanager
def together() -> Iterator[Staged]:
    """Stage a step's outputs; when the block succeeds they replace their targets one right after another,
    when it fails none is touched. Nothing is moved before every output is complete on disk, so a failure
    while they are made (a bad value, a full disk, a kill) leaves every old output as it was; only a kill
    between two of the final renames can mix old and new, and DVC then sees the stage as changed."""
    staged = Staged()
    try:
        yield staged
        for scratch, _, _, _ in staged.items:
            if scratch.is_dir():
                _fsync_tree(scratch)
        for scratch, target, root, prefix in staged.items:
            faults.kill_point(target)
            with _writable(target):
                _replace(target, scratch, root, prefix) if scratch.is_dir() else os.replace(scratch, target)
    finally:
        for scratch, _, _, _ in staged.items:
            shutil.rmtree(scratch, ignore_errors=True) if scratch.is_dir() else scratch.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    with together() as out:
        out.file(path, data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, to_json(data))


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    write_text(path, csv_text(rows, columns))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a scratch folder; on success it replaces `path` whole, on failure it is removed."""
    with together() as out:
        yield out.folder(path)


@contextlib.contextmanager
def _writable(path: Path) -> Iterator[None]:
    """A folder the user can't write to is one clear line, not a traceback."""
    try:
        yield
    except PermissionError as err:
        raise RankcertError(f"cannot write {path}: permission denied on {err.filename or path}; "
                            "check the folder's owner and mode") from err


def to_json(data: Any) -> str:
    """Stable JSON: sorted keys, fixed indentation, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = [",".join(columns)]
    lines += [",".join(_csv_cell(row[c]) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    if any(ch in text for ch in ',"\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _replace(path: Path, scratch: Path, root: Path, prefix: str) -> None:
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=root, prefix=prefix, suffix=".tmp"))
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(scratch, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(scratch, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
