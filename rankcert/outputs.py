"""File output: every file and folder a stage writes lands atomically (temporary name, then rename)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never a part."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary file, then a rename)."""
    path = Path(path)
    with _writable(path):
        _write_bytes(path, data)


@contextlib.contextmanager
def _writable(path: Path) -> Iterator[None]:
    """A folder the user can't write to is one clear line, not a traceback."""
    try:
        yield
    except PermissionError as err:
        raise RankcertError(f"cannot write {path}: permission denied on {err.filename or path}; "
                            "check the folder's owner and mode") from err


def _write_bytes(path: Path, data: bytes) -> None:
    root, prefix = _scratch(path)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=prefix, suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: give the file the permissions open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def to_json(data: Any) -> str:
    """Stable JSON: sorted keys, fixed indentation, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, to_json(data))


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    lines = [",".join(columns)]
    lines += [",".join(_csv_cell(row[c]) for c in columns) for row in rows]
    write_text(path, "\n".join(lines) + "\n")


def _csv_cell(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    if any(ch in text for ch in ',"\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a scratch folder; on success it replaces `path` whole, on failure it is removed."""
    path = Path(path)
    with _writable(path):
        root, prefix = _scratch(path)
        scratch = Path(tempfile.mkdtemp(dir=root, prefix=prefix, suffix=".tmp"))
    scratch.chmod(0o777 & ~_umask())  # mkdtemp makes 0700: give the folder the permissions mkdir would
    try:
        yield scratch
        _fsync_tree(scratch)
        _injected_kill(path)
        with _writable(path):
            _replace(path, scratch, root, prefix)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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


def _injected_kill(path: Path) -> None:
    """Fault injection for the kill tests: RANKCERT_KILL_BEFORE_RENAME=<part of a path> dies right here."""
    target = os.environ.get("RANKCERT_KILL_BEFORE_RENAME")
    if target and target in str(path):
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
