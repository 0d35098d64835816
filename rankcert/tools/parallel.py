"""The pipeline over several GPUs of one host: each seed's stages in a `dvc repro` of their own, then certify.

    python -m rankcert.tools.parallel [--jobs N] [--per-gpu K] [--params params.yaml]

DVC's own mechanism does the work: `dvc repro validate`, then several `dvc --wait-for-lock repro --single-item
STAGES` at once in one workspace, one per seed (a seed's prepare, probe, compress and evaluate depend on no
other seed's), then `dvc repro` for certify; GPU
leases (rankcert.runtime.gpus) spread their stages over the GPUs. --per-gpu K lets K seeds share each GPU (it sets
RANKCERT_GPU_SLOTS for the stages: a small model leaves a GPU mostly idle, and one seed's DVC bookkeeping and
start-up then overlap another's training). N defaults to the number of visible GPUs times K. Each
output line is prefixed with its seed; a failed seed stops the others and is named; the results are the
same as a serial `dvc repro` (the stages and their inputs are).
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rankcert.config.entrypoint import run_main
from rankcert.config.params import RuntimeParams, load_params
from rankcert.runtime import gpus, settings
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT, SEED_STAGES

STOP_GRACE_S = 10.0


def seed_targets(seed: int) -> list[str]:
    """The evaluation of one seed: reproducing it reproduces all of that seed's stages."""
    return [LAYOUT.seed_stage("evaluate", seed)]


def seed_stages(seed: int) -> list[str]:
    """Every stage of one seed, in dependency order."""
    return [LAYOUT.seed_stage(kind, seed) for kind in SEED_STAGES]


def cpu_advice(jobs: int, gpu_count: int, cores: int, runtime: RuntimeParams) -> str | None:
    """What to set when seeds running at once on the CPU would each take every core (torch's default)."""
    if jobs < 2 or runtime.cpu_threads is not None or (gpu_count and runtime.device != "cpu"):
        return None
    share = max(1, cores // jobs)
    return (f"on the CPU: {jobs} seeds at once each use all {cores} cores (runtime.cpu_threads is null), and threads "
            f"fighting over cores slow every seed down several times; set runtime.cpu_threads: {share} in params.yaml "
            "(CPU bytes depend on it: a serial run with the same value writes the same bytes)")


def start(seed: int) -> subprocess.Popen:
    # --single-item over the seed's own stages: an upstream stage shared by all seeds (validate) is left out,
    # because DVC write-locks the outputs of every stage a repro visits, even one it skips.
    command = ["dvc", "--wait-for-lock", "repro", "--single-item", *seed_stages(seed)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def stop(procs: dict[int, subprocess.Popen]) -> None:
    """SIGTERM each seed's process group (dvc, the stage client and through it the stage), then SIGKILL."""
    for proc in procs.values():
        _signal_group(proc, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(proc.pid, number)
    except ProcessLookupError:
        pass


def run_seeds(seeds: list[int], jobs: int) -> None:
    """At most `jobs` seeds at a time; raise naming the first seed that fails, after stopping the rest."""
    pending, running = list(seeds), {}
    tails: dict[int, list[str]] = {}
    selector = selectors.DefaultSelector()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                seed = pending.pop(0)
                running[seed] = start(seed)
                selector.register(running[seed].stdout, selectors.EVENT_READ, seed)
                print(f"[parallel] seed {seed}: dvc repro --single-item {' '.join(seed_stages(seed))}", flush=True)
            for key, _ in selector.select(timeout=1.0):
                seed, line = key.data, key.fileobj.readline()
                if line:
                    print(f"[seed {seed}] {line.rstrip()}", flush=True)
                    tails.setdefault(seed, []).append(line.rstrip())
                    continue
                selector.unregister(key.fileobj)
                code = running.pop(seed).wait()
                if code != 0:
                    stop(running)
                    stopped = f"; stopped seed(s) {sorted(running)}" if running else ""
                    raise RankcertError(f"seed {seed} failed (dvc repro exit {code}){stopped}; its last line: "
                                        f"{(tails.get(seed) or ['(none)'])[-1]}")
                print(f"[parallel] seed {seed}: done", flush=True)
    finally:
        stop(running)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, help="seeds at once (default: visible GPUs (at least 1) x --per-gpu)")
    parser.add_argument("--per-gpu", type=int, default=settings.gpu_slots(),
                        help="seeds that may share one GPU (default: RANKCERT_GPU_SLOTS, else 1)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    if args.per_gpu < 1 or (args.jobs is not None and args.jobs < 1):
        raise RankcertError("--jobs and --per-gpu must be at least 1")
    os.environ["RANKCERT_GPU_SLOTS"] = str(args.per_gpu)  # read by every stage's GPU lease
    gpu_count = len(gpus.visible_gpus())
    jobs = args.jobs or max(1, gpu_count) * args.per_gpu
    print(f"[parallel] {len(params.seeds)} seed(s), {jobs} at a time", flush=True)
    if (advice := cpu_advice(jobs, gpu_count, len(os.sched_getaffinity(0)), params.runtime)):
        print(f"[parallel] {advice}", flush=True)
    # validate and the input fingerprints first, alone: every seed depends on them, and validate stops bad
    # input before anything is deleted
    shared = ["validate", *(f"track@{key}" for key in params.inputs)]
    if subprocess.run(["dvc", "--wait-for-lock", "repro", *shared]).returncode != 0:
        raise RankcertError(f"{' or '.join(shared)} failed (see above); no seed was started")
    run_seeds(params.seeds, jobs)
    result = subprocess.run(["dvc", "--wait-for-lock", "repro"])  # certify (and anything left), in the open
    if result.returncode != 0:
        sys.exit(result.returncode)


if __name__ == "__main__":
    run_main(main)
