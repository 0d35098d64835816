"""runtime.device: how it is spelled, whether this machine has it, and the device a stage runs on.

auto (a GPU when one is free, else the CPU), cpu, cuda (any free GPU) or cuda:<n> (the n-th visible GPU; the
others stay free for other stages). The GPU itself is leased through rankcert.runtime.gpus (a lock per slot,
CUDA_VISIBLE_DEVICES narrowed to it), so lease_device() must come before anything starts CUDA. torch is imported only
where a device is made or a CUDA request checked: params and validate read this module without it.
"""
from __future__ import annotations

import os
import re
import typing

from rankcert.runtime import gpus
from rankcert.runtime.errors import RankcertError

if typing.TYPE_CHECKING:
    import torch

SPELLING = re.compile(r"auto|cpu|cuda(:(0|[1-9][0-9]*))?")  # one spelling per device: cuda:1, not cuda:01


def spelling_problem(name: str) -> str | None:
    """What is wrong with how runtime.device is written, or None."""
    if (index := re.fullmatch("cuda:([0-9]+)", name)) and not SPELLING.fullmatch(name):
        return f"runtime.device {name!r} means cuda:{int(index.group(1))}; write that (one name per device)"
    if not SPELLING.fullmatch(name):
        return f"runtime.device must be auto, cpu, cuda or cuda:<index>, not {name!r}"
    return None


def pinned(name: str) -> int | None:
    """The GPU index cuda:<n> pins (among the visible GPUs), or None."""
    return int(name.split(":")[1]) if name.startswith("cuda:") else None


def wants_gpu(name: str) -> bool:
    """cuda or cuda:<n>: a run that must not fall back to the CPU."""
    return name not in ("auto", "cpu")


def no_gpu(name: str) -> str:
    """The one line for a GPU asked for and not there."""
    return f"runtime.device is {name!r} but no GPU is available here ({_where()}); use auto or cpu"


def missing(name: str, visible: list[str]) -> str | None:
    """Why the GPU `name` asks for is not among `visible`, or None (also for auto and cpu)."""
    if not wants_gpu(name):
        return None
    if not visible:
        return no_gpu(name)
    index = pinned(name) or 0
    if index >= len(visible):
        return (f"runtime.device is {name!r} but only {len(visible)} GPU(s) are visible ({_where()}: cuda:0 .. "
                f"cuda:{len(visible) - 1}); pick one of those, or cuda or auto")
    return None


def check(name: str) -> None:
    """runtime.device against this machine, without starting CUDA (validate runs it before DVC removes anything):
    `cuda` needs a visible GPU and a torch built with CUDA, `cuda:<n>` the n-th visible GPU."""
    if not wants_gpu(name):
        return
    import torch  # heavy, and only a CUDA request needs it; is_built reads the build, not the driver

    if not torch.backends.cuda.is_built():
        raise RankcertError(f"runtime.device is {name!r} but this torch {torch.__version__} is built without CUDA; "
                            "use auto or cpu, or install a CUDA build of torch")
    if (problem := missing(name, gpus.visible_gpus())) is not None:
        raise RankcertError(problem)


class Runtime(typing.Protocol):
    """What lease_device reads of the runtime section: rankcert.config.params.RuntimeParams, named by its shape
    because config is a later step than runtime (its checks use this module)."""

    @property
    def device(self) -> str: ...

    @property
    def cpu_threads(self) -> int | None: ...


def lease_device(runtime: Runtime, label: str) -> torch.device:
    """The CPU (with runtime.cpu_threads threads), or a GPU leased for this process (gpus.lease: it holds a lock
    for the life of the process and narrows CUDA_VISIBLE_DEVICES to that GPU, so it must come before anything
    starts CUDA)."""
    import torch

    name = runtime.device
    if name != "cpu":
        if (problem := missing(name, gpus.visible_gpus())) is not None:
            raise RankcertError(problem)
        if gpus.lease(label, pinned(name)) is not None and torch.cuda.is_available():
            return torch.device("cuda")
        if wants_gpu(name):
            raise RankcertError(no_gpu(name))
    if runtime.cpu_threads is not None:
        torch.set_num_threads(runtime.cpu_threads)
    return torch.device("cpu")


def _where() -> str:
    """Where the visible GPUs were read from, for a message."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"CUDA_VISIBLE_DEVICES={listed!r}" if listed is not None else "nvidia-smi -L"
