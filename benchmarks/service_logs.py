"""Where a run's seconds went, read from the warm worker's and the GPU trainer's logs (their folder:
`python -m rankcert.worker status` names it; a device run's come back beside its results).

    python benchmarks/service_logs.py W_LOG [T_LOG] [--out RESULT.json]

Per stage, its wall time; between one stage of a seed ending and its next starting, DVC's own work for that seed
(its repository lock waits and dvc.lock rewrites included); seconds a seed over the run and over its second half
(a rate that falls as the run grows is DVC's lock file growing); and how many trainings the
trainer had in flight when each request came (few: the GPU waits on the stages, not the other way round).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

WORKER_LINE = re.compile(r"^(\S+ \S+) \[worker \d+\] pid (\d+): stages\.(\w+) (?:--seed (\d+)|exited (-?\d+) after ([0-9.]+) s)")
QUEUED = re.compile(r"^(\S+ \S+) \[trainer \d+\] \S+: (\d+) training\(s\) queued \((\d+) in flight\)")


def service_breakdown(worker_log: str, trainer_log: str = "", since: float = 0.0) -> dict:
    """From the warm worker's and the GPU trainer's logs: each stage's wall time, the gap between one stage of a
    seed ending and its next starting (DVC's own work for that seed, its repository lock waits included), seeds
    finished per minute, and how many trainings the trainer had in flight when each request came."""
    def stamp(text: str) -> float:
        return time.mktime(time.strptime(text, "%Y-%m-%d %H:%M:%S"))
    seed_of, events = {}, {}
    for line in worker_log.splitlines():
        if not (m := WORKER_LINE.match(line)):
            continue
        at, pid, stage, seed, code, seconds = m.groups()
        if stamp(at) < since - 1:  # an earlier run of the same worker
            continue
        if seed is not None:
            seed_of[pid] = seed
            events.setdefault(seed, []).append(("start", stage, stamp(at), None))
        elif pid in seed_of and code == "0":
            events[seed_of[pid]].append(("end", stage, stamp(at), float(seconds)))
    walls, gaps, finished = {}, {}, []
    first_start = min((at for seed_events in events.values() for _, _, at, _ in seed_events), default=0.0)
    for seed_events in events.values():
        for kind, stage, at, seconds in seed_events:
            if kind == "end":
                walls.setdefault(stage, []).append(seconds)
                finished += [at] if stage == "evaluate" else []
        for (k1, s1, t1, _), (k2, s2, t2, _) in zip(seed_events, seed_events[1:]):
            if k1 == "end" and k2 == "start":
                gaps.setdefault(f"{s1}->{s2}", []).append(t2 - t1)
    in_flight = [int(m.group(3)) for line in trainer_log.splitlines() if (m := QUEUED.match(line))]
    finished.sort()
    halves = {}
    if len(finished) >= 4:  # the whole run, and the later half alone (past the first wave: the steady rate)
        half = len(finished) // 2
        halves = {"s_per_seed": round((finished[-1] - first_start) / len(finished), 2),
                  "second_half_s_per_seed": round((finished[-1] - finished[half]) / (len(finished) - half - 1), 2)}
    return {"seeds_evaluated": len(finished), **halves,
            "stage_wall_s_median": {k: round(statistics.median(v), 2) for k, v in sorted(walls.items())},
            "between_stages_s_median": {k: round(statistics.median(v), 2) for k, v in sorted(gaps.items())},
            "trainer_requests": len(in_flight),
            "trainer_in_flight_at_request_median": statistics.median(in_flight) if in_flight else None,
            "trainer_requests_finding_none_in_flight": sum(n == 0 for n in in_flight)}


def breakdown_from_folder(folder: Path, since: float = 0.0) -> dict:
    """The newest worker log and trainer log in a services folder, read from `since` (a time.time())."""
    def newest(pattern: str) -> str:
        found = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
        return found[-1].read_text() if found else ""
    return service_breakdown(newest("w-*.log"), newest("t-*.log"), since)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("worker_log", type=Path)
    parser.add_argument("trainer_log", type=Path, nargs="?")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = service_breakdown(args.worker_log.read_text(), args.trainer_log.read_text() if args.trainer_log else "")
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
