"""Settings read from the environment, all of them here. None changes a result, so none is a DVC parameter.

VARIABLES documents each one; the README's table lists the same (tests/test_settings.py keeps them in step).
Standard library only: the worker's client imports this.
"""
from __future__ import annotations

import os
from pathlib import Path

VARIABLES = {
    "RANKCERT_CHECKPOINT_EVERY": "save CPU training state every <steps>, so a killed run resumes (default 0: off)",
    "RANKCERT_CONCURRENT_TRAININGS": "at most <n> of a seed's adapters train at once on a GPU (default 0: as many "
                                     "as fit)",
    "RANKCERT_GPU_SLOTS": "stages that may share one GPU at once (default 1); `parallel --per-gpu` sets it",
    "RANKCERT_GPU_LEASE_DIR": "where the GPU lease locks live (default /tmp/rankcert-gpu-leases, shared by the host)",
    "RANKCERT_WORKER": "off: run each stage in its own process instead of the warm worker",
    "RANKCERT_WORKER_DIR": "the warm worker's socket and log folder (default $XDG_RUNTIME_DIR or /tmp, "
                           "rankcert-<uid>)",
    "RANKCERT_WORKER_IDLE": "seconds the warm worker waits for work before it exits (default 300)",
    "RANKCERT_DEBUG": "1: a refused input shows its traceback instead of one line",
    "RANKCERT_KILL_BEFORE_RENAME": "tests only: SIGKILL a stage as it is about to replace an output whose path "
                                   "contains this text (rankcert.faults)",
    "RANKCERT_STAGE_START": "set by the warm worker for its child: when the client started the stage (timing lines)",
}


def _read(name: str) -> str:
    assert name in VARIABLES, f"{name} is not documented in settings.VARIABLES"
    return os.environ.get(name, "").strip()


def _count(name: str) -> int:
    value = _read(name)
    return int(value) if value.isdigit() else 0


def checkpoint_every() -> int:
    return _count("RANKCERT_CHECKPOINT_EVERY")


def concurrent_trainings() -> int:
    return _count("RANKCERT_CONCURRENT_TRAININGS")


def gpu_slots() -> int:
    return max(1, _count("RANKCERT_GPU_SLOTS"))


def gpu_lease_dir() -> Path:
    return Path(_read("RANKCERT_GPU_LEASE_DIR") or "/tmp/rankcert-gpu-leases")


def worker_enabled() -> bool:
    return _read("RANKCERT_WORKER").lower() not in ("off", "0", "no", "false")


def worker_dir() -> Path:
    return Path(_read("RANKCERT_WORKER_DIR") or os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp",
                                                             f"rankcert-{os.getuid()}"))


def worker_idle_s(default: float) -> float:
    value = _read("RANKCERT_WORKER_IDLE")
    try:
        return float(value) if value else default
    except ValueError:
        return default


def debug() -> bool:
    return _read("RANKCERT_DEBUG") == "1"


def kill_before_rename() -> str:
    return _read("RANKCERT_KILL_BEFORE_RENAME")


def stage_start() -> float | None:
    value = _read("RANKCERT_STAGE_START")
    return float(value) if value else None


def dvc_stage() -> str | None:
    """DVC_STAGE, set by `dvc repro` for the stage it runs (whose non-persistent outputs it removed first)."""
    return os.environ.get("DVC_STAGE") or None
