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

from pathlib import Path

from rankcert.runtime import channel, services
from rankcert.runtime.services import ServicePaths

DEFAULT_IDLE_S = 300.0


def environment_key(env: dict[str, str]) -> str:
    """The worker's identity: the Python environment (rankcert.runtime.services.environment_key) and its own code."""
    code = [*sorted(Path(__file__).parent.glob("*.py")), Path(channel.__file__), Path(services.__file__)]
    return services.environment_key(env, code)


def worker_paths(key: str, folder: Path | None = None) -> ServicePaths:
    return services.service_paths("w", key, folder)
