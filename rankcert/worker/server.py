"""The worker process: import the heavy libraries once, then fork a child per stage and report its exit.

Single-threaded on purpose: nothing can hold a lock across a fork. It never initialises CUDA (children do).
"""
from __future__ import annotations

import importlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

from rankcert.runtime import services, settings
from rankcert.runtime.channel import Channel, ConnectionClosed
from rankcert.runtime.services import remove_socket
from rankcert.worker import DEFAULT_IDLE_S, worker_paths
from rankcert.worker.child import become_stage

# What the stages import; a module missing from this environment is skipped.
PRELOAD = ["numpy", "pandas", "yaml", "safetensors.numpy", "safetensors.torch", "torch", "tqdm", "transformers",
           "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto",
           "transformers.models.bert.modeling_bert", "transformers.models.distilbert.modeling_distilbert",
           "transformers.models.llama.modeling_llama",  # Llama-shaped decoders (SmolLM2 too); others load in the child
           "peft", "datasets", "ruamel.yaml"]
# Library threads started at import would be copied into no child, possibly holding a lock: keep them from
# starting (OpenBLAS's pool, pyarrow's jemalloc background thread); and check CUDA without initialising it.
QUIET_ENV = {"OPENBLAS_NUM_THREADS": "1", "JE_ARROW_MALLOC_CONF": "background_thread:false",
             "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}


@dataclass
class Running:
    channel: Channel
    module: str
    started: float
    killed: bool = False


@dataclass
class Worker:
    key: str
    listener: socket.socket
    socket_path: str
    socket_inode: int
    wakeup: int  # read end of the SIGCHLD wake-up pipe
    idle_s: float
    started: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.monotonic)
    running: dict[int, Running] = field(default_factory=dict)
    stopping: bool = False
    preloaded: list[str] = field(default_factory=list)

    def loop(self) -> None:
        while not (self.stopping and not self.running):
            if not self.running and time.monotonic() - self.last_active > self.idle_s:
                log(f"idle for {self.idle_s:.0f} s: exiting")
                self.retire()
                return
            watched = [self.wakeup, *(r.channel.sock for r in self.running.values())]
            watched += [] if self.stopping else [self.listener]
            ready, _, _ = select.select(watched, [], [], 1.0)
            if self.wakeup in ready:
                os.read(self.wakeup, 4096)
            self.reap()
            for pid, run in list(self.running.items()):
                if run.channel.sock in ready and not run.killed:
                    self.client_gone(pid)
            if self.listener in ready and not self.stopping:
                self.accept()

    def accept(self) -> None:
        sock, _ = self.listener.accept()
        channel = Channel(sock)
        try:
            uid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            if uid != os.getuid():
                log(f"refused a connection from uid {uid}")
                channel.close()
                return
            request, fds = channel.receive(max_fds=3)
            self.handle(channel, request, fds)
        except (ConnectionClosed, OSError, ValueError, KeyError) as err:
            log(f"bad request: {err}")
            channel.close()

    def handle(self, channel: Channel, request: dict, fds: list[int]) -> None:
        self.last_active = time.monotonic()
        op = request.get("op")
        if op == "ping":
            channel.send(self.describe())
            channel.close()
        elif op == "stop":
            self.retire()
            channel.send({"stopping": True, "running": len(self.running)})
            channel.close()
        elif op == "run" and len(fds) == 3:
            self.fork_stage(channel, request, fds)
        else:
            for fd in fds:
                os.close(fd)
            raise ValueError(f"unknown request {op!r}")

    def fork_stage(self, channel: Channel, request: dict, fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.listener.close()
            os.close(self.wakeup)
            for run in self.running.values():
                run.channel.close()
            channel.close()
            become_stage(request, fds)
        for fd in fds:
            os.close(fd)
        module = request["argv"][0]
        self.running[pid] = Running(channel, module, time.monotonic())
        log(f"pid {pid}: {' '.join(request['argv'])} (in {request['cwd']})")
        try:
            channel.send({"event": "started", "pid": pid})
        except OSError:
            self.client_gone(pid)

    def reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.running.pop(pid, None)
            if run is None:
                continue
            self.last_active = time.monotonic()
            code = os.waitstatus_to_exitcode(status)
            log(f"pid {pid}: {run.module} exited {code} after {time.monotonic() - run.started:.2f} s")
            try:
                run.channel.send({"event": "exit", "code": code})
            except OSError:
                pass
            run.channel.close()

    def retire(self) -> None:
        """Take no new stages: remove the socket, so the next client starts a fresh worker."""
        self.stopping = True
        remove_socket(self.socket_path, self.socket_inode)
        self.listener.close()

    def client_gone(self, pid: int) -> None:
        """The client closed its end (it was killed): stop the stage, and what it started, now."""
        log(f"pid {pid}: client gone, killing the stage")
        self.running[pid].killed = True
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def describe(self) -> dict:
        torch = sys.modules.get("torch")
        return {"pid": os.getpid(), "key": self.key, "python": sys.executable, "started": self.started,
                "idle_s": round(time.monotonic() - self.last_active, 1), "running": len(self.running),
                "threads": threads(), "preloaded": self.preloaded,
                "cuda_initialized": bool(torch and torch.cuda.is_initialized()), "stopping": self.stopping}


def threads() -> int:
    """OS threads of this process (library threads included, which threading.active_count() misses)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def preload() -> list[str]:
    loaded = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError:
            pass
    return loaded


def log(message: str) -> None:
    services.log("worker", message)


def serve(key: str) -> None:
    """Bind first (clients queue while the imports run), preload, then serve until idle or stopped."""
    paths = worker_paths(key)
    os.environ.update(QUIET_ENV)
    listener, bound = services.listen(paths.socket)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    idle_s = settings.worker_idle_s(DEFAULT_IDLE_S)
    worker = Worker(key, listener, str(paths.socket), bound, read_end, idle_s)
    started = time.perf_counter()
    worker.preloaded = preload()
    log(f"ready: {len(worker.preloaded)} modules imported in {time.perf_counter() - started:.1f} s, "
        f"{threads()} thread(s), python {sys.executable}, idle exit after {idle_s:.0f} s")
    try:
        worker.loop()
    finally:
        remove_socket(str(paths.socket), bound)
