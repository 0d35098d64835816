"""File output: every file and folder a stage writes lands atomically (temporary name, then rename)."""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rankcert.runtime import faults
from rankcert.runtime.errors import RankcertError

# Scratch space outside every output and dependency folder: a killed run's leftovers can't change a DVC hash.
SCRATCH = Path(".rankcert-tmp")
# Who owns a scratch entry: each process that writes holds an flock on SCRATCH/owners/<token>.lock for its life
# and puts the token in every scratch name, so a later run can tell a killed run's leftovers (lock free) from a
# concurrently running stage's (lock held): parallel seeds share the workspace.
OWNERS = "owners"
TOKEN = secrets.token_hex(6)
OWNED = re.compile(r"\.o(?P<token>[0-9a-f]{12})\.[A-Za-z0-9_]+\.tmp$")
PENDING_S = 60.0
_owner_locks: dict[Path, int] = {}  # resolved scratch root -> the fd of this process's held owner lock


def _scratch(path: Path) -> tuple[Path, str]:
    """(folder, name prefix) for temporary copies of `path`; clears what killed runs left there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    same_device = SCRATCH.resolve().parent.stat().st_dev == path.parent.stat().st_dev
    root = SCRATCH if same_device else path.parent
    _claim_ownership()
    target = f".{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}-{path.name}."
    if not same_device:  # a folder of the user's: only this target's leftovers are known to be ours
        root.mkdir(parents=True, exist_ok=True)
        _clear_ended(root.glob(f"{glob.escape(target)}*.tmp"), SCRATCH / OWNERS)
    return root, f"{target}o{TOKEN}."


def _claim_ownership() -> None:
    """Hold this process's owner lock in SCRATCH (once per workspace) and clear every ended run's scratch."""
    root = SCRATCH.resolve()
    if root in _owner_locks:
        return
    owners = root / OWNERS
    owners.mkdir(parents=True, exist_ok=True)
    # locked under a temporary name, then renamed: no other process ever sees the final name unlocked
    fd, pending = tempfile.mkstemp(dir=owners, prefix=f"{TOKEN}.", suffix=".new")
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.replace(pending, owners / f"{TOKEN}.lock")
    _owner_locks[root] = fd
    atexit.register((owners / f"{TOKEN}.lock").unlink, missing_ok=True)  # a killed run's is swept by the next
    clear_stale_scratch(root)


def clear_stale_scratch(root: Path = SCRATCH) -> list[Path]:
    """Remove the scratch entries in `root` whose runs have ended (killed, or of an older rankcert), then their
    owner locks; entries of running processes stay. Returns what was removed."""
    removed = _clear_ended(root.glob("*.tmp"), root / OWNERS)
    for lock in sorted((root / OWNERS).glob("*")):
        if lock.name.split(".")[0] == TOKEN or _running(lock) or _pending(lock):
            continue
        lock.unlink(missing_ok=True)
        removed.append(lock)
    return removed


def _clear_ended(entries, owners: Path) -> list[Path]:
    removed = []
    for entry in sorted(entries):
        owner = OWNED.search(entry.name)
        if owner and (owner["token"] == TOKEN or _running(owners / f"{owner['token']}.lock")):
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _running(lock: Path) -> bool:
    """Whether the process that made owner lock `lock` still holds it (a missing lock: its run has ended)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's own lock, if it got one
    return False


def _pending(lock: Path) -> bool:
    """A lock a starting process made but has not locked yet (for an instant; a minute means it never will)."""
    try:
        return lock.suffix == ".new" and time.time() - lock.stat().st_mtime < PENDING_S
    except FileNotFoundError:
        return False


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
