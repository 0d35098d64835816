"""runtime.device on a CPU machine: CUDA_VISIBLE_DEVICES names pretend GPUs; nothing starts CUDA."""
from __future__ import annotations

import os

import pytest
import torch

from rankcert.config.params import RuntimeParams
from rankcert.runtime import device, gpus
from rankcert.runtime.errors import RankcertError


def test_check_refuses_a_gpu_that_is_not_there_without_starting_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)  # as a CUDA build of torch
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:1"):
        device.check(name)
    with pytest.raises(RankcertError, match=r"'cuda:2' but only 2 GPU\(s\) are visible \(CUDA_VISIBLE_DEVICES='3,5': "
                                            r"cuda:0 .. cuda:1\)"):
        device.check("cuda:2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(RankcertError, match="but no GPU is available here"):
            device.check(name)
    device.check("auto")  # falls back to the CPU
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(RankcertError, match="is built without CUDA"):
        device.check("cuda")
    assert not torch.cuda.is_initialized()


def test_the_lease_says_the_same_line_as_the_check(monkeypatch, tmp_path):
    """A pin beyond the visible GPUs, or no GPU at all, is the check's one line, and nothing is leased."""
    monkeypatch.setenv("RANKCERT_GPU_LEASE_DIR", str(tmp_path))
    monkeypatch.setattr(gpus, "_held", {})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(RankcertError, match=r"'cuda:2' but only 1 GPU\(s\) are visible"):
        device.lease_device(RuntimeParams("cuda:2", True), "t")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(RankcertError, match=r"^runtime.device is 'cuda' but no GPU is available here "
                                            r"\(CUDA_VISIBLE_DEVICES=''\); use auto or cpu$"):
        device.lease_device(RuntimeParams("cuda", True), "t")
    assert not list(tmp_path.iterdir()) and not gpus._held


def test_a_gpu_leased_where_cuda_cannot_start_is_the_same_line(monkeypatch, tmp_path):
    monkeypatch.setenv("RANKCERT_GPU_LEASE_DIR", str(tmp_path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(gpus, "_held", {})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RankcertError, match="runtime.device is 'cuda:0' but no GPU is available here"):
        device.lease_device(RuntimeParams("cuda:0", True), "t")
    assert device.lease_device(RuntimeParams("auto", True), "t") == torch.device("cpu")  # auto falls back (held lease)
    os.close(gpus._held.pop("0"))


def test_the_cpu_runs_with_the_threads_params_pin_and_torch_s_own_count_when_null():
    before = torch.get_num_threads()
    try:
        assert device.lease_device(RuntimeParams("cpu", True, 1), "probe@42") == torch.device("cpu")
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        device.lease_device(RuntimeParams("cpu", True, None), "probe@42")
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name, index", [("auto", None), ("cpu", None), ("cuda", None), ("cuda:0", 0), ("cuda:12", 12)])
def test_the_pin_is_read_once(name, index):
    assert device.spelling_problem(name) is None and device.pinned(name) == index
