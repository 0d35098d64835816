"""Time to a settled certificate: `make settle` from nothing until every canonical verdict settles (or the last look).

    python benchmarks/settle_bench.py --model DIR --data DIR --set k=v ... [--per-gpu 4] --out RESULT.json \\
        [--pool POOL.tgz ...]

Builds a fresh workspace with the canonical seeds and variants (a commit, so each look can be one), runs
`python -m rankcert.tools.settle` (with --per-gpu K: each look's new seeds share the GPU through
rankcert.tools.parallel) and writes the contract keys `device`, `settle_s`, `seeds_used`, `looks`, `verdicts`.
With --pool (benchmarks/population_check.py pool archives of the same seeds), it also says whether the settle
run's predictions are byte-identical to the pool's for every seed they share.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.multi_gpu_bench import timed  # noqa: E402
from benchmarks.per_seed_bench import workspace  # noqa: E402
from benchmarks.warm_bench import device_name, real_data_arguments  # noqa: E402
from rankcert.certification import certificate  # noqa: E402
from rankcert.runtime.layout import LAYOUT  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402


def pooled_predictions(archives: list[Path]) -> dict[str, bytes]:
    out = {}
    for archive in archives:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.name.startswith("data/eval/") and member.name.endswith(".csv"):
                    out[member.name] = tar.extractfile(member).read()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    real_data_arguments(parser)
    parser.add_argument("--per-gpu", type=int, default=1)
    parser.add_argument("--pool", type=Path, nargs="*", default=[])
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-settle-bench"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ws = workspace(args.root / "settle", args, demo.PROJECT, [42, 123, 456])
    command = [sys.executable, "-m", "rankcert.tools.settle", *(["--per-gpu", str(args.per_gpu)]
                                                                 if args.per_gpu > 1 else [])]
    seconds, output = timed(command, ws, dict(os.environ, PYTHONUNBUFFERED="1"), True)
    result = certificate.read(ws / LAYOUT.certificate, ws / LAYOUT.certificate_details)
    details = {name: v.population for name, v in result.details.variants.items()}
    verdicts = {name: {"population": v.population, "spec": v.spec, "looks_used": details[name].looks_used,
                       "lower": v.share_lower} for name, v in result.metrics.variants.items()}
    seeds = next(iter(details.values())).seeds
    facts = {"device": device_name(), "packages": package_versions(), "settle_s": round(seconds, 2),
             "seeds_used": seeds, "per_gpu": args.per_gpu,
             "looks": [line for line in output.splitlines() if line.startswith("[settle]")], "verdicts": verdicts,
             "certified": result.metrics.certified, "stages": output.count("Running stage '")}
    if args.pool:
        pool = pooled_predictions(args.pool)
        mine = {str(p.relative_to(ws)): p.read_bytes() for p in sorted((ws / "data" / "eval").rglob("*.csv"))}
        shared = sorted(set(pool) & set(mine))
        facts["identical_predictions_to_pool"] = {"files": len(shared),
                                                  "identical": sum(pool[k] == mine[k] for k in shared)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in facts.items() if k != "packages"}, indent=1), flush=True)


if __name__ == "__main__":
    main()
