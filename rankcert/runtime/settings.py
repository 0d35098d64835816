"""Settings read from the environment, all of them here. None changes a result, so none is a DVC parameter.

VARIABLES documents each one; docs/settings.md's table lists the same (tests/runtime/test_settings.py keeps them in step).
A setting that is unset (or empty) means its default; one that is set must be well formed, else a
RankcertError names the variable, the value and what it takes. `check` reads them all (entry points call it
before any work), and an unknown RANKCERT_* name is refused too: a misspelt setting would otherwise do nothing.
Standard library only: the worker's client imports this.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path

from rankcert.runtime.errors import RankcertError

VARIABLES = {
    "RANKCERT_CHECKPOINT_EVERY": "save CPU training state every <steps>, so a killed run resumes (a whole number; "
                                 "default 0: off)",
    "RANKCERT_CONCURRENT_TRAININGS": "at most <n> adapters train at once on a GPU, in the GPU trainer or a stage's "
                                     "own (a whole number; default 0: as many as fit)",
    "RANKCERT_GPU_SLOTS": "stages that may share one GPU at once (a whole number, at least 1; default 1); "
                          "`parallel --per-gpu` sets it",
    "RANKCERT_GPU_LEASE_DIR": "where the GPU lease locks live (an absolute path; default /tmp/rankcert-gpu-leases, "
                              "shared by the host)",
    "RANKCERT_TRAINER": "gpu: stages that train on a GPU hand their trainings to one trainer process per GPU, which "
                        "trains every stage's adapters at once (same bytes); all: trainings on the CPU too (tests); "
                        "off: each stage trains its own (the default until the trainer is measured on a GPU)",
    "RANKCERT_WORKER": "off (or 0, no, false): run each stage in its own process instead of the warm worker; "
                       "on (1, yes, true): the default",
    "RANKCERT_WORKER_DIR": "the warm worker's socket and log folder (an absolute path; default $XDG_RUNTIME_DIR or "
                           "/tmp, rankcert-<uid>)",
    "RANKCERT_WORKER_IDLE": "seconds the warm worker and the GPU trainer wait for work before they exit (a number above "
                            "0; default 300 and 120)",
    "RANKCERT_DEBUG": "1 (or yes, true, on): a refused input shows its traceback instead of one line; default off",
    "RANKCERT_KILL_BEFORE_RENAME": "tests only: SIGKILL a stage as it is about to replace an output whose path "
                                   "contains this text (rankcert.runtime.faults)",
    "RANKCERT_STAGE_START": "set by the warm worker for its child: when the client started the stage (seconds since "
                            "the epoch; timing lines)",
}
PREFIX = "RANKCERT_"
ON = ("1", "on", "yes", "true")
OFF = ("0", "off", "no", "false")
WHOLE = re.compile(r"\+?[0-9]+")


def _read(name: str) -> str:
    assert name in VARIABLES, f"{name} is not documented in settings.VARIABLES"
    return os.environ.get(name, "").strip()


def _refuse(name: str, value: str, takes: str) -> RankcertError:
    return RankcertError(f"{name}={value!r} is not valid: it takes {takes} (unset for the default)")


def _whole(name: str, default: int, least: int, takes: str) -> int:
    value = _read(name)
    if not value:
        return default
    if not WHOLE.fullmatch(value) or int(value) < least:
        raise _refuse(name, value, takes)
    return int(value)


def _switch(name: str, default: bool) -> bool:
    value = _read(name)
    if not value:
        return default
    if value.lower() not in ON + OFF:
        raise _refuse(name, value, f"one of {', '.join(ON)} (on) or {', '.join(OFF)} (off)")
    return value.lower() in ON


def _seconds(name: str, default: float | None, takes: str) -> float | None:
    value = _read(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise _refuse(name, value, takes)
    return seconds


def _folder(name: str, default: Path) -> Path:
    value = _read(name)
    if not value:
        return default
    path = Path(value)
    if not path.is_absolute() or (path.exists() and not path.is_dir()):
        raise _refuse(name, value, "an absolute path to a folder (made if missing)")
    return path


def checkpoint_every() -> int:
    return _whole("RANKCERT_CHECKPOINT_EVERY", 0, 0, "a whole number of steps (0: off)")


def concurrent_trainings() -> int:
    return _whole("RANKCERT_CONCURRENT_TRAININGS", 0, 0, "a whole number of trainings (0: as many as fit)")


def gpu_slots() -> int:
    return _whole("RANKCERT_GPU_SLOTS", 1, 1, "a whole number of stages per GPU, at least 1")


def gpu_lease_dir() -> Path:
    return _folder("RANKCERT_GPU_LEASE_DIR", Path("/tmp/rankcert-gpu-leases"))


def trainer_mode() -> str:
    """off, gpu or all (RANKCERT_TRAINER)."""
    value = _read("RANKCERT_TRAINER").lower() or "off"
    if value not in ("off", "gpu", "all"):
        raise _refuse("RANKCERT_TRAINER", value, "off, gpu or all")
    return value


def worker_enabled() -> bool:
    return _switch("RANKCERT_WORKER", True)


def worker_dir() -> Path:
    default = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", f"rankcert-{os.getuid()}")
    return _folder("RANKCERT_WORKER_DIR", default)


def worker_idle_s(default: float) -> float:
    return _seconds("RANKCERT_WORKER_IDLE", default, "a number of seconds above 0, e.g. 300")


def debug() -> bool:
    return _switch("RANKCERT_DEBUG", False)


def kill_before_rename() -> str:
    return _read("RANKCERT_KILL_BEFORE_RENAME")


def stage_start() -> float | None:
    return _seconds("RANKCERT_STAGE_START", None, "a time in seconds since the epoch (the warm worker sets it)")


def dvc_stage() -> str | None:
    """DVC_STAGE, set by `dvc repro` for the stage it runs (whose non-persistent outputs it removed first)."""
    return os.environ.get("DVC_STAGE") or None


READERS = (checkpoint_every, concurrent_trainings, gpu_slots, gpu_lease_dir, trainer_mode, worker_enabled, worker_dir,
           lambda: worker_idle_s(300.0), debug, kill_before_rename, stage_start)


def check() -> None:
    """Every RANKCERT_* variable that is set, read as its reader reads it; all problems in one line."""
    problems = []
    for name in sorted(n for n in os.environ if n.startswith(PREFIX) and n not in VARIABLES):
        close = difflib.get_close_matches(name, VARIABLES, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; the settings are {', '.join(VARIABLES)}"
        problems.append(f"{name} is not a rankcert setting{hint}")
    for reader in READERS:
        try:
            reader()
        except RankcertError as err:
            problems.append(str(err))
    if problems:
        raise RankcertError("; ".join(problems))
