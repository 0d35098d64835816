"""GPU leases on a CPU machine: CUDA_VISIBLE_DEVICES names pretend GPUs; the locks are what is tested."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rankcert.runtime import gpus
from rankcert.runtime.errors import RankcertError
from tests.helpers import PROJECT

HOLD = "from rankcert.runtime import gpus; import time; print(gpus.lease('t'), flush=True); time.sleep(60)"


def holder(env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


@pytest.fixture
def two_gpus(tmp_path):
    return dict(os.environ, CUDA_VISIBLE_DEVICES="0,1", RANKCERT_GPU_LEASE_DIR=str(tmp_path))


def test_concurrent_stages_take_different_gpus_and_a_third_waits_for_a_dead_ones(two_gpus):
    first, gpu_a = holder(two_gpus)
    second, gpu_b = holder(two_gpus)
    third = subprocess.Popen([sys.executable, "-c", HOLD], cwd=PROJECT, env=two_gpus, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert {gpu_a, gpu_b} == {"0", "1"}
        assert "waiting for a free GPU" in third.stderr.readline()
        first.kill()  # SIGKILL: the lock goes with the process
        assert third.stdout.readline().strip() == gpu_a
        assert "after waiting" in third.stderr.readline()
    finally:
        for proc in (first, second, third):
            proc.kill()
            proc.wait()


def test_two_slots_spread_over_the_gpus_first_then_share_them(two_gpus):
    env = dict(two_gpus, RANKCERT_GPU_SLOTS="2")
    held = [holder(env) for _ in range(4)]
    fifth = subprocess.Popen([sys.executable, "-c", HOLD], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert [gpu for _, gpu in held] == ["0", "1", "0", "1"]
        assert "waiting for a free GPU" in fifth.stderr.readline()
        held[2][0].kill()  # GPU 0's second slot
        assert fifth.stdout.readline().strip() == "0"
    finally:
        for proc in [p for p, _ in held] + [fifth]:
            proc.kill()
            proc.wait()


def test_a_one_slot_lease_excludes_the_first_slot_of_a_shared_gpu(two_gpus):
    one, gpu = holder(dict(two_gpus, CUDA_VISIBLE_DEVICES="0"))
    shared, shared_gpu = holder(dict(two_gpus, CUDA_VISIBLE_DEVICES="0", RANKCERT_GPU_SLOTS="2"))
    try:
        assert gpu == shared_gpu == "0"
        assert (gpus.lock_file(gpus.Path(two_gpus["RANKCERT_GPU_LEASE_DIR"]), "0", 1)).exists()
    finally:
        for proc in (one, shared):
            proc.kill()
            proc.wait()


def test_the_lease_narrows_cuda_visible_devices(two_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.setenv("RANKCERT_GPU_LEASE_DIR", two_gpus["RANKCERT_GPU_LEASE_DIR"])
    monkeypatch.setattr(gpus, "_held", {})
    assert gpus.lease("t", pinned=1) == "5"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"


def test_no_gpu_means_no_lease(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpus.visible_gpus() == [] and gpus.lease("t") is None


def test_a_lease_folder_that_cannot_be_made_is_one_line(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("RANKCERT_GPU_LEASE_DIR", str(tmp_path / "file" / "leases"))
    with pytest.raises(RankcertError, match="cannot make the GPU lease folder .* set RANKCERT_GPU_LEASE_DIR"):
        gpus.lease_folder()
