"""python -m rankcert.worker run MODULE [ARGS...] | status | stop | serve --key KEY (started by `run`)."""
from __future__ import annotations

import sys
import time

from rankcert.runtime import settings
from rankcert.runtime.errors import RankcertError

USAGE = __doc__.strip()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "status", "stop", "serve"):
        print(f"usage: {USAGE}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        settings.check()  # before a stage or worker reads one: a malformed setting is one line, never a traceback
    except RankcertError as err:
        print(f"rankcert: error: {err}", file=sys.stderr)
        return 2
    if command == "run":
        if not rest:
            print("usage: python -m rankcert.worker run MODULE [ARGS...]", file=sys.stderr)
            return 2
        from rankcert.worker.client import run

        return run(rest)
    if command == "serve":
        from rankcert.worker.server import serve

        serve(rest[rest.index("--key") + 1])
        return 0
    return status(stop=command == "stop")


def status(stop: bool) -> int:
    """Every worker and GPU trainer of this user: ask each (or tell each to stop); remove sockets nobody answers."""
    from rankcert.runtime.services import ServiceUnavailable, ask, runtime_dir

    try:
        folder = runtime_dir()
    except ServiceUnavailable as err:
        print(f"rankcert: error: {err}", file=sys.stderr)
        return 2
    sockets = sorted(folder.glob("w-*.sock")) + sorted(folder.glob("t-*.sock"))
    if not sockets:
        print(f"no worker running (folder {folder})")
    for path in sockets:
        kind = "worker" if path.name.startswith("w-") else "trainer"
        key, log = path.stem[2:], path.with_suffix(".log")
        info = ask(path, "stop" if stop else "ping")
        if info is None:
            print(f"{kind} {key}: not answering; removed its socket (log {log})")
        else:
            print(f"{kind} {key}: {describe(kind, info, stop)}; log {log}")
    return 0


def describe(kind: str, info: dict, stop: bool) -> str:
    if kind == "trainer":  # rankcert.training.trainer_service
        return (f"pid {info['pid']}, {info['in_flight']} training(s) in flight, {info['waiting']} waiting, "
                + ("stopping once they are done" if stop else "running"))
    if stop:
        return f"stopping ({info['running']} stage(s) still running finish first)"
    return (f"pid {info['pid']}, up {time.time() - info['started']:.0f} s, idle {info['idle_s']} s, "
            f"{info['running']} stage(s) running, {info['threads']} thread(s), "
            f"CUDA initialised: {'yes' if info['cuda_initialized'] else 'no'}; python {info['python']}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
