"""Fault injection for the kill tests, in plain sight: a process that dies where a test says it should."""
from __future__ import annotations

import os
import signal
from pathlib import Path

from rankcert.runtime import settings


def kill_point(path: Path) -> None:
    """Die by SIGKILL right here when RANKCERT_KILL_BEFORE_RENAME names part of `path` (outputs.py calls this
    just before a finished output replaces its predecessor)."""
    target = settings.kill_before_rename()
    if target and target in str(path):
        os.kill(os.getpid(), signal.SIGKILL)
