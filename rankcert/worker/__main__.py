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
    """Every worker of this user: ask each (or tell each to stop); remove sockets nobody answers."""
    from rankcert.runtime.channel import ConnectionClosed
    from rankcert.runtime.services import ServiceUnavailable, connect, runtime_dir
    from rankcert.worker import worker_paths

    try:
        folder = runtime_dir()
    except ServiceUnavailable as err:
        print(f"rankcert: error: {err}", file=sys.stderr)
        return 2
    sockets = sorted(folder.glob("w-*.sock"))
    if not sockets:
        print(f"no worker running (folder {folder})")
    for path in sockets:
        key = path.stem[2:]
        log = path.with_suffix(".log")
        try:
            channel = connect(worker_paths(key, folder).socket)
            channel.send({"op": "stop" if stop else "ping"})
            info, _ = channel.receive()
        except (ConnectionRefusedError, ConnectionClosed, OSError):
            path.unlink(missing_ok=True)
            print(f"worker {key}: not answering; removed its socket (log {log})")
            continue
        if stop:
            print(f"worker {key}: stopping ({info['running']} stage(s) still running finish first; log {log})")
        else:
            age = time.time() - info["started"]
            print(f"worker {key}: pid {info['pid']}, up {age:.0f} s, idle {info['idle_s']} s, "
                  f"{info['running']} stage(s) running, {info['threads']} thread(s), "
                  f"CUDA initialised: {'yes' if info['cuda_initialized'] else 'no'}; python {info['python']}; "
                  f"log {log}")
    trainers(folder, stop)
    return 0


def trainers(folder, stop: bool) -> None:
    """The GPU trainers (rankcert.training.trainer_service) beside the workers: ask each, or tell each to stop."""
    from rankcert.runtime.channel import ConnectionClosed
    from rankcert.runtime.services import connect

    for path in sorted(folder.glob("t-*.sock")):
        key, log = path.stem[2:], path.with_suffix(".log")
        try:
            channel = connect(path)
            channel.send({"op": "stop" if stop else "ping"})
            info, _ = channel.receive()
        except (ConnectionRefusedError, ConnectionClosed, OSError):
            path.unlink(missing_ok=True)
            print(f"trainer {key}: not answering; removed its socket (log {log})")
            continue
        what = "stopping once they are done" if stop else "running"
        print(f"trainer {key}: pid {info['pid']}, {info['in_flight']} training(s) in flight, {info['waiting']} waiting, "
              f"{what}; log {log}")



if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
