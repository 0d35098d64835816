"""Running a stage module as `python -m` would: in the client (no worker), or in a child forked by the worker."""
from __future__ import annotations

import atexit
import ctypes
import io
import os
import runpy
import signal
import sys
import traceback
from typing import NoReturn

PROJECT_PACKAGES = ("rankcert", "stages")
PR_SET_PDEATHSIG = 1


def run_stage(argv: list[str]) -> int:
    """Run module argv[0] as __main__ with arguments argv[1:]; return its exit code as Python would."""
    module, *args = argv
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return _exit_code(stop.code)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - printed as an uncaught exception would be
        traceback.print_exc()
        return 1
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def become_stage(request: dict, fds: list[int]) -> NoReturn:
    """In the forked child: take the client's stdio, directory, environment and umask, then run the stage."""
    os.setpgid(0, 0)  # its own group: the worker stops the stage and whatever it started together
    die_with_parent()
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["RANKCERT_STAGE_START"] = repr(request["start"])
    _reopen_stdio(os.environ)
    sys.path[0] = request["cwd"]
    for name in [n for n in sys.modules if n.split(".")[0] in PROJECT_PACKAGES]:
        del sys.modules[name]  # the project's code is imported fresh, from the client's directory
    try:
        code = run_stage(request["argv"])
    except KeyboardInterrupt:
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # as Python itself ends on an uncaught Ctrl-C
        code = 130
    try:
        atexit._run_exitfuncs()
    finally:
        _flush()
        os._exit(code)


def _reopen_stdio(env: os._Environ) -> None:
    """Fresh sys.std* on fds 0-2, buffered as a new interpreter would buffer them for these files."""
    encoding = (env.get("PYTHONIOENCODING") or "utf-8").split(":")[0] or "utf-8"
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))

    def stream(fd: int, mode: str, line: bool, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=line,
                                write_through=unbuffered and mode == "w")

    sys.stdin = sys.__stdin__ = stream(0, "r", False, "strict")
    sys.stdout = sys.__stdout__ = stream(1, "w", os.isatty(1), "strict")
    sys.stderr = sys.__stderr__ = stream(2, "w", True, "backslashreplace")


def _flush() -> None:
    for handle in (sys.stdout, sys.stderr):
        try:
            handle.flush()
        except (OSError, ValueError):
            pass
