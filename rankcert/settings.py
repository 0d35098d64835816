"""Settings read from the environment. None changes a result, so none is a DVC parameter."""
from __future__ import annotations

import os


def _count(name: str) -> int:
    value = os.environ.get(name, "0").strip()
    return int(value) if value.isdigit() else 0


def checkpoint_every() -> int:
    """RANKCERT_CHECKPOINT_EVERY=<steps>: save CPU training state that often, so a killed run resumes (0: off)."""
    return _count("RANKCERT_CHECKPOINT_EVERY")


def concurrent_trainings() -> int:
    """RANKCERT_CONCURRENT_TRAININGS=<n>: at most n of a seed's adapters train at once on a GPU (0: as many as fit)."""
    return _count("RANKCERT_CONCURRENT_TRAININGS")


def gpu_slots() -> int:
    """RANKCERT_GPU_SLOTS=<n>: stages that may share one GPU at once (default 1; see rankcert.gpus)."""
    return max(1, _count("RANKCERT_GPU_SLOTS"))


def debug() -> bool:
    """RANKCERT_DEBUG=1: a refused input shows its traceback instead of one line."""
    return os.environ.get("RANKCERT_DEBUG") == "1"


def dvc_stage() -> str | None:
    """DVC_STAGE, set by `dvc repro` for the stage it runs (whose non-persistent outputs it removed first)."""
    return os.environ.get("DVC_STAGE") or None
