"""Seeds per minute at the size of a real settle: `rankcert.tools.parallel` from nothing, with the GPU trainer
(RANKCERT_TRAINER=gpu) and without it (off), on one GPU machine in one sitting.

    python benchmarks/throughput_bench.py --model DIR --data DIR --set k=v ... --seeds 64 --per-gpu 16 \\
        --baseline-seeds 16 --baseline-per-gpu 8 --pool POOL.tgz ... --out RESULT.json

Seeds are 42, 123, 456, then 1000, 1001, ... (the committed 48-seed pool's sequence), so --pool archives of that
recipe say whether every shared seed's predictions are byte-identical to the pool's (`identical_to_serial`: the
pool's stages each trained alone). Each run starts from a fresh workspace and a stopped worker and trainer; the
seeds' stages run through the parallel tool, then `dvc repro certify` (timed apart). nvidia-smi is sampled every
0.5 s (busy share, peak memory). Writes the contract keys `device`, `seeds`, `per_gpu`, `wall_s`, `s_per_seed`,
`breakdown`, `identical_to_serial`, `peak_gpu_mem_gb`, `versions`, and `baseline` (the same keys, trainer off).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.per_seed_bench import workspace  # noqa: E402
from benchmarks.service_logs import breakdown_from_folder  # noqa: E402
from benchmarks.warm_bench import device_name, real_data_arguments  # noqa: E402
from rankcert.runtime import services  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402

FINISHED = re.compile(r"\[seed (\d+)\] \[(prepare|probe|compress|evaluate)\] finished in ([0-9.]+) s")
CERTIFIED = re.compile(r"^\[certify\] finished in ([0-9.]+) s", re.M)
TRAINED = re.compile(r"\[seed \d+\] \[(?:probe|compress)@\d+(?:-\S+)?\] \d+ steps in ([0-9.]+) s \(([0-9.]+) ms/step.*?"
                     r"(?:(\d+) trained at once)?\)")


def seed_sequence(count: int) -> list[int]:
    return ([42, 123, 456] + list(range(1000, 1000 + count)))[:count]


def sampler(out: Path) -> subprocess.Popen | None:
    out.write_text("")
    if not shutil.which("nvidia-smi"):
        return None
    return subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                             "-lms", "500"], stdout=open(out, "w"), stderr=subprocess.DEVNULL)


def gpu_samples(path: Path) -> dict:
    rows = [line.split(",") for line in path.read_text().splitlines() if line.count(",") == 1]
    busy = [float(u) for u, _ in rows]
    mem = [float(m) for _, m in rows]
    return {"samples": len(rows), "busy_share": round(sum(b > 0 for b in busy) / max(1, len(busy)), 3),
            "mean_utilization_pct": round(statistics.fmean(busy), 1) if busy else None,
            "peak_gpu_mem_gb": round(max(mem) / 1024, 2) if mem else None}


def stop_services(ws: Path, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "rankcert.worker", "stop"], cwd=ws, env=env, capture_output=True)
    subprocess.run(["pkill", "-f", "rankcert.training.trainer_service"], capture_output=True)
    time.sleep(1.0)


def run(args, name: str, seeds: list[int], per_gpu: int, trainer: str) -> dict:
    ws = workspace(args.root / name, args, demo.PROJECT, seeds)
    env = dict(os.environ, PYTHONUNBUFFERED="1", RANKCERT_TRAINER=trainer)
    stop_services(ws, env)
    smi = args.root / f"{name}-smi.csv"
    sampling = sampler(smi)
    started, started_wall = time.perf_counter(), time.time()
    seeds_done = None
    lines = []
    proc = subprocess.Popen([sys.executable, "-m", "rankcert.tools.parallel", "--per-gpu", str(per_gpu)], cwd=ws,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    interrupted = False
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[parallel]") and ": done" in line:
                seeds_done = time.perf_counter() - started
        proc.wait()
    except KeyboardInterrupt:  # the call's time ran out (timeout -s INT): keep what the seeds done so far show
        interrupted = True
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    seeds_s = seeds_done if seeds_done is not None else time.perf_counter() - started
    if sampling:
        sampling.terminate()
    certify_started = time.perf_counter()
    certify = subprocess.CompletedProcess([], 130, "", "") if interrupted else \
        subprocess.run(["dvc", "repro", "certify"], cwd=ws, env=env, capture_output=True, text=True)
    certify_s = time.perf_counter() - certify_started
    output = "".join(lines)
    if (found := CERTIFIED.search(output)):  # it ran in the parallel tool's last `dvc repro`
        certify_s = float(found.group(1))
    (args.out.parent / f"{args.out.stem}-{name}.log").write_text(output + certify.stdout + certify.stderr)
    stages: dict[str, list[float]] = {}
    for _, stage, seconds in FINISHED.findall(output):
        stages.setdefault(stage, []).append(float(seconds))
    trainings = [(float(s), float(ms), int(n or 1)) for s, ms, n in TRAINED.findall(output)]
    stage_sum = sum(sum(v) for v in stages.values())
    gpu = gpu_samples(smi)
    result = {"seeds": len(seeds), "per_gpu": per_gpu, "trainer": trainer, "interrupted": interrupted,
              "wall_s": round(seeds_s, 2),
              "s_per_seed": round(seeds_s / len(seeds), 3), "parallel_exit": proc.returncode,
              "certify_s": round(certify_s, 2), "certify_exit": certify.returncode,
              "peak_gpu_mem_gb": gpu["peak_gpu_mem_gb"],
              "breakdown": {
                  "stage_wall_s_per_seed": {k: round(sum(v) / len(seeds), 3) for k, v in sorted(stages.items())},
                  "stage_wall_s_median": {k: round(statistics.median(v), 3) for k, v in sorted(stages.items())},
                  # slot-seconds outside any stage process: DVC's own work, its lock waits, the clients' start
                  "outside_stages_s_per_seed": round((per_gpu * seeds_s - stage_sum) / len(seeds), 3),
                  "trainings": len(trainings),
                  "ms_per_step_median": round(statistics.median(t[1] for t in trainings), 3) if trainings else None,
                  "trained_at_once_median": statistics.median(t[2] for t in trainings) if trainings else None,
                  "gpu": gpu, "services": breakdown_from_folder(services.runtime_dir(), since=started_wall)}}
    result["gpu_mem_gb_per_concurrent_seed"] = round(gpu["peak_gpu_mem_gb"] / per_gpu, 3) if gpu["peak_gpu_mem_gb"] else None
    result["identical_to_serial"] = compare(ws, args.pool) if args.pool else None
    print(f"[bench] {name}: {json.dumps({k: v for k, v in result.items() if k != 'breakdown'})}", flush=True)
    return result


def canonical(args) -> dict:
    """The canonical three seeds: `dvc repro` from nothing (worker and trainer cold), then forced with both warm."""
    ws = workspace(args.root / "canonical", args, demo.PROJECT, seed_sequence(3))
    env = dict(os.environ, PYTHONUNBUFFERED="1", RANKCERT_TRAINER="gpu")
    stop_services(ws, env)
    timings = {}
    # certify as the target: the plots page stage needs vl-convert, which a device machine may lack
    for key, command in (("canonical_repro_s", ["dvc", "repro", "certify"]),
                         ("canonical_repro_warm_s", ["dvc", "repro", "-f", "certify"])):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ws, env=env, capture_output=True, text=True)
        timings[key] = round(time.perf_counter() - started, 2)
        timings[key.replace("_s", "_exit")] = done.returncode  # certify's plots page may need what this machine lacks
    print(f"[bench] canonical: {timings}", flush=True)
    return timings


def compare(ws: Path, pools: list[Path]) -> dict:
    """Every prediction file of a seed that a pool archive also holds: byte-identical?"""
    reference = {}
    for pool in pools:
        with tarfile.open(pool) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.startswith("data/eval/") and member.name.endswith(".csv"):
                    reference[member.name] = archive.extractfile(member).read()
    ours = {str(p.relative_to(ws)): p.read_bytes() for p in sorted((ws / "data" / "eval").rglob("*.csv"))}
    shared = sorted(set(reference) & set(ours))
    differ = [name for name in shared if reference[name] != ours[name]]
    return {"files_compared": len(shared), "seeds_compared": len({n.split("/")[2] for n in shared}),
            "identical": bool(shared) and not differ, "differ": differ[:20]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    real_data_arguments(parser)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--per-gpu", type=int, default=16)
    parser.add_argument("--baseline-seeds", type=int, default=0, help="0: no baseline run")
    parser.add_argument("--baseline-per-gpu", type=int, default=8)
    parser.add_argument("--pool", type=Path, action="append", default=[])
    parser.add_argument("--canonical", action="store_true", help="also time the canonical 3 seeds, cold and warm")
    parser.add_argument("--root", type=Path, default=Path("/tmp/throughput"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--skip-trainer", action="store_true",
                        help="no --seeds run (its keys come from an earlier call's JSON; for short device calls)")
    args = parser.parse_args()
    result = {"device": device_name(), "versions": package_versions()}
    if not args.skip_trainer:
        result |= run(args, "trainer", seed_sequence(args.seeds), args.per_gpu, "gpu")
        args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")  # kept if the rest runs out of time
        if result["interrupted"]:  # wall_s and s_per_seed are not the run's: breakdown.services has the seeds done
            return
    if args.canonical:
        result |= canonical(args)
        args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.baseline_seeds:
        result["baseline"] = run(args, "baseline", seed_sequence(args.baseline_seeds), args.baseline_per_gpu, "off")
        if "s_per_seed" in result:
            result["speedup_per_seed"] = round(result["baseline"]["s_per_seed"] / result["s_per_seed"], 2)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: result.get(k) for k in ("device", "seeds", "wall_s", "s_per_seed", "speedup_per_seed",
                                                  "peak_gpu_mem_gb", "identical_to_serial")}), flush=True)


if __name__ == "__main__":
    main()
