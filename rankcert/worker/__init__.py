"""The warm worker: stages run in a child forked from a process that imported torch, transformers and peft once.

    python -m rankcert.worker run stages.probe --seed 42 ...   # what dvc.yaml runs: a stage, warm
    python -m rankcert.worker status | stop                    # see or stop this user's workers

The pattern of Mercurial's chg: the command DVC runs is a small client (standard library only) that hands the
worker its argv, working directory, environment, umask and its stdin/stdout/stderr (file descriptors passed
over a Unix socket), forwards Ctrl-C and SIGTERM to the stage, and exits with the stage's code. The worker
never initialises CUDA; each child imports the project's own code after the fork, so edits are picked up.
One worker per Python environment (see `environment_key`); it exits after RANKCERT_WORKER_IDLE seconds
(default 300) without work. RANKCERT_WORKER=off runs every stage in the client process instead.

This module holds what client and server share; it imports nothing heavy.
"""
from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from rankcert.runtime import settings

# Variables that libraries read once, at import: a worker whose imports saw other values is another worker.
# OMP_NUM_THREADS is one (torch's CPU thread count is fixed when torch loads: a child forked from a worker
# imported with 2 threads keeps 2 whatever its own environment says). CUDA_* is read later, in the child.
KEY_ENV_PREFIXES = ("PYTHON", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "DATASETS_", "USE_TORCH",
                    "USE_TF", "LD_", "TORCH_", "OMP_", "MKL_")
# ...except those the child applies itself when it rebuilds sys.std* (child._reopen_stdio).
KEY_ENV_IGNORED = ("PYTHONUNBUFFERED", "PYTHONIOENCODING")
DEFAULT_IDLE_S = 300.0


class WorkerUnavailable(Exception):
    """The worker can't be reached or started; the stage then runs in the client process."""


@dataclass(frozen=True)
class WorkerPaths:
    key: str
    socket: Path
    log: Path
    lock: Path


def runtime_dir() -> Path:
    """This user's private folder for worker sockets and logs (mode 0700, owned by the user, else refused)."""
    folder = settings.worker_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as err:
        raise WorkerUnavailable(f"cannot use {folder}: {err.strerror}") from err
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise WorkerUnavailable(f"{folder} must be a folder owned by this user with mode 0700")
    return folder


def environment_key(env: dict[str, str]) -> str:
    """Identity of a Python environment: interpreter, installed packages, import-time variables, worker code.

    A pip install or uninstall changes the site-packages folder's mtime, so it changes the key.
    """
    digest = hashlib.sha256()
    digest.update(f"{os.path.realpath(sys.executable)}\0{sys.version}\0".encode())
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and os.path.isdir(entry):
            digest.update(f"{entry}\0{os.stat(entry).st_mtime_ns}\0".encode())
    for name in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(name.read_bytes())
    for name in sorted(env):
        if name.startswith(KEY_ENV_PREFIXES) and name not in KEY_ENV_IGNORED:
            digest.update(f"{name}={env[name]}\0".encode())
    return digest.hexdigest()[:16]


def worker_paths(key: str, folder: Path | None = None) -> WorkerPaths:
    folder = folder or runtime_dir()
    return WorkerPaths(key, folder / f"w-{key}.sock", folder / f"w-{key}.log", folder / f"w-{key}.lock")
