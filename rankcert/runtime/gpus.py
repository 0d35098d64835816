"""GPU leases: a stage that runs on CUDA first takes a slot on one GPU (an exclusive lock file per slot).

Each GPU has one slot unless RANKCERT_GPU_SLOTS says more (settings.gpu_slots): small models leave a GPU
mostly idle, so several seeds' stages may share it. Stages that DVC runs at once (parallel `dvc repro`
targets, the experiments queue) so spread over the GPUs, first slots first, instead of piling onto the first
one, and wait when all slots are taken. The lock is an flock: it is released when
the stage ends, however it ends. The lease must come before CUDA starts in the process: it narrows
CUDA_VISIBLE_DEVICES to the leased GPU, which CUDA reads only when it initialises.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from rankcert.runtime import settings
from rankcert.runtime.errors import RankcertError

_held: dict[str, int] = {}  # GPU -> the lock fd of its slot, kept open for the life of the process


def lease_folder() -> Path:
    """Shared by every user of the host (the GPUs are): RANKCERT_GPU_LEASE_DIR or /tmp/rankcert-gpu-leases."""
    folder = settings.gpu_lease_dir()
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RankcertError(f"cannot make the GPU lease folder {folder} ({err.strerror}); set "
                                "RANKCERT_GPU_LEASE_DIR to a folder this user may write") from err
        try:
            folder.chmod(0o1777)  # like /tmp: everyone may lock, nobody may remove another's file
        except PermissionError:
            pass
    return folder


def visible_gpus() -> list[str]:
    """The GPUs this process may use, without initialising CUDA: CUDA_VISIBLE_DEVICES, else the driver's list."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    try:  # what this container may use (the driver's /proc list can name the whole host's GPUs)
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
        return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
    except (OSError, subprocess.TimeoutExpired):
        pass
    proc = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(proc.iterdir())))] if proc.is_dir() else []


def lease(label: str, pinned: int | None = None, poll_s: float = 0.1) -> str | None:
    """Take a free slot on a GPU (or on GPU `pinned`, an index among the visible ones that
    rankcert.runtime.device.lease_device has checked), waiting while all are taken.

    Returns the GPU's id (now the only one in CUDA_VISIBLE_DEVICES), or None when there is no GPU.
    """
    gpus = visible_gpus()
    if not gpus:
        return None
    if pinned is not None:
        gpus = [gpus[pinned]]
    folder, slots, waited = lease_folder(), settings.gpu_slots(), False
    while True:
        for slot in range(slots):
            for gpu in gpus:
                if _try_lock(folder, gpu, slot):
                    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
                    print(f"[{label}] on GPU {gpu}" + (f" (slot {slot + 1} of {slots})" if slots > 1 else "")
                          + (" (after waiting for a free one)" if waited else ""), file=sys.stderr, flush=True)
                    return gpu
        if not waited:
            print(f"[{label}] waiting for a free GPU ({', '.join(gpus)} all leased)", file=sys.stderr, flush=True)
            waited = True
        time.sleep(poll_s)


def lock_file(folder: Path, gpu: str, slot: int) -> Path:
    """Slot 0 keeps the one-slot name, so leases taken with different RANKCERT_GPU_SLOTS still exclude each other."""
    return folder / (f"gpu-{gpu}.lock" if slot == 0 else f"gpu-{gpu}.slot{slot}.lock")


def _try_lock(folder: Path, gpu: str, slot: int) -> bool:
    if gpu in _held:
        return True
    fd = os.open(lock_file(folder, gpu, slot), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[gpu] = fd
    return True
