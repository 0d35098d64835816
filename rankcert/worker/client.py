"""The stage command DVC runs: hand the stage to the warm worker, stream nothing itself, exit with its code.

Standard library only: this process must start in milliseconds and never import torch.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from rankcert.runtime import services, settings
from rankcert.runtime.channel import Channel, ConnectionClosed
from rankcert.runtime.services import ServicePaths, ServiceUnavailable
from rankcert.worker import environment_key, worker_paths
from rankcert.worker.child import die_with_parent, run_stage

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def run(argv: list[str]) -> int:
    """Run stage module argv[0] with argv[1:] through the worker; in this process if the worker is off or down."""
    start = time.time()
    if not settings.worker_enabled():
        return run_stage(argv)
    die_with_parent()  # if DVC is killed, so is this client, and with it (through the worker) the stage
    for attempt in (1, 2):
        try:
            paths = worker_paths(environment_key(dict(os.environ)))
            channel = connect_or_start(paths)
            channel.send(request(argv, start), stdio_fds())
            started, _ = channel.receive()
            break
        except (ServiceUnavailable, ConnectionClosed, OSError) as err:
            if attempt == 2:  # a worker that exits as we connect gets one retry with a fresh one
                print(f"rankcert: warm worker unavailable ({err}); running {argv[0]} in this process",
                      file=sys.stderr, flush=True)
                return run_stage(argv)
    return wait_for_exit(channel, started["pid"], paths)


def request(argv: list[str], start: float) -> dict:
    umask = os.umask(0)
    os.umask(umask)
    return {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
            "start": start}


def stdio_fds() -> list[int]:
    """fds 0-2 to pass; a closed one is replaced by /dev/null, as a new process would have it."""
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(os.open(os.devnull, os.O_RDWR))
    return fds


def wait_for_exit(channel: Channel, pid: int, paths: ServicePaths) -> int:
    """Forward signals to the stage until the worker reports its exit; mirror a death by signal."""
    def forward(number, _frame):
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass

    for number in FORWARDED:
        signal.signal(number, forward)
    try:
        while True:
            try:
                message, _ = channel.receive()
            except InterruptedError:
                continue
            if message.get("event") == "exit":
                break
    except (ConnectionClosed, OSError):
        print(f"rankcert: error: the warm worker died while running the stage (log: {paths.log}); "
              "run again, or set RANKCERT_WORKER=off", file=sys.stderr, flush=True)
        return 1
    code = int(message["code"])
    if code < 0:  # killed by a signal: end the same way, so DVC and shells see what happened
        for number in FORWARDED:
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def connect_or_start(paths: ServicePaths) -> Channel:
    """A connection to this environment's worker, starting one if none answers."""
    argv = [sys.executable, "-m", "rankcert.worker", "serve", "--key", paths.key]
    return services.connect_or_start("the worker", paths, argv)
