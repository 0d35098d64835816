"""Local services of this user (the warm worker, the GPU trainer): their private folder, the key that says which
environment and code a service was started from, and connecting to one or starting it (one starter at a time).

Standard library only: the worker's client imports this and must start in milliseconds.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rankcert.runtime import settings
from rankcert.runtime.channel import Channel, ConnectionClosed

START_TIMEOUT_S = 30.0
# Variables that libraries read once, at import: a service whose imports saw other values is another service.
# OMP_NUM_THREADS is one (torch's CPU thread count is fixed when torch loads: a child forked from a worker
# imported with 2 threads keeps 2 whatever its own environment says). CUDA_* is read later, in the child.
KEY_ENV_PREFIXES = ("PYTHON", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "DATASETS_", "USE_TORCH",
                    "USE_TF", "LD_", "TORCH_", "OMP_", "MKL_")
# ...except those the worker's child applies itself when it rebuilds sys.std* (child._reopen_stdio).
KEY_ENV_IGNORED = ("PYTHONUNBUFFERED", "PYTHONIOENCODING")


class ServiceUnavailable(Exception):
    """The service can't be reached or started; the caller then does the work in its own process."""


@dataclass(frozen=True)
class ServicePaths:
    """A service's files in the runtime folder: <kind>-<key>.sock, .log and .lock (its starters' flock)."""

    key: str
    socket: Path
    log: Path
    lock: Path


def service_paths(kind: str, key: str, folder: Path | None = None) -> ServicePaths:
    """`kind` is the file prefix: w (the warm worker) or t (a GPU trainer)."""
    folder = folder or runtime_dir()
    stem = folder / f"{kind}-{key}"
    return ServicePaths(key, stem.with_suffix(".sock"), stem.with_suffix(".log"), stem.with_suffix(".lock"))


def listen(path: Path) -> tuple[socket.socket, int]:
    """A listening socket bound at `path`, and the inode that makes it this service's (remove_socket)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(128)
    return listener, os.stat(path).st_ino


def log(who: str, message: str) -> None:
    """A service's log line (its stderr is its log file): time, who and pid, message."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{who} {os.getpid()}] {message}", file=sys.stderr, flush=True)


def runtime_dir() -> Path:
    """This user's private folder for sockets and logs (mode 0700, owned by the user, else refused)."""
    folder = settings.worker_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as err:
        raise ServiceUnavailable(f"cannot use {folder}: {err.strerror}") from err
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServiceUnavailable(f"{folder} must be a folder owned by this user with mode 0700")
    return folder


def environment_key(env: dict[str, str], code: Iterable[Path], extra: str = "") -> str:
    """Identity of a Python environment (interpreter, installed packages, import-time variables), of the service's
    own `code` files and of `extra`. A pip install or uninstall changes the site-packages folder's mtime."""
    digest = hashlib.sha256()
    digest.update(f"{os.path.realpath(sys.executable)}\0{sys.version}\0{extra}\0".encode())
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and os.path.isdir(entry):
            digest.update(f"{entry}\0{os.stat(entry).st_mtime_ns}\0".encode())
    for name in code:
        digest.update(name.read_bytes())
    for name in sorted(env):
        if name.startswith(KEY_ENV_PREFIXES) and name not in KEY_ENV_IGNORED:
            digest.update(f"{name}={env[name]}\0".encode())
    return digest.hexdigest()[:16]


def remove_socket(path: str | Path, inode: int) -> None:
    """Unlink a service's own socket only (by inode): a newer service may have replaced it."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


def ask(path: Path, op: str) -> dict | None:
    """One request ({"op": op}) to the service at `path` and its answer; None (its socket removed) if none answers."""
    try:
        channel = connect(path)
        channel.send({"op": op})
        return channel.receive()[0]
    except (ConnectionRefusedError, ConnectionClosed, OSError):
        path.unlink(missing_ok=True)
        return None


def connect(path: Path) -> Channel:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return Channel(sock)


def connect_or_start(what: str, paths: ServicePaths, argv: list[str], env: dict[str, str] | None = None) -> Channel:
    """A connection to the service (`what`, for messages) listening at its socket, starting `argv` (detached,
    logging to its log) if none answers; the flock on its lock file makes one starter of many."""
    path = paths.socket
    try:
        return connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    with open(paths.lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            return connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        if path.exists():
            path.unlink()  # left by a service that was killed
        with open(paths.log, "a") as out:
            server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                      close_fds=True, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                return connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                if server.poll() is not None:
                    raise ServiceUnavailable(f"{what} exited at start with code {server.returncode}; "
                                             f"see {paths.log}") from None
                time.sleep(0.01)
        raise ServiceUnavailable(f"{what} did not open {path} within {START_TIMEOUT_S:.0f} s; see {paths.log}")
