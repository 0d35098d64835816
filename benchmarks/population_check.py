"""The population verdict checked against a real population: a pool of many seeds, and orderings of it.

    python benchmarks/population_check.py pool --seeds 42,123,...  --model DIR --data DIR --set k=v ... \\
        --per-gpu 4 --out POOL.tgz                    # on a GPU machine: the pool's predictions, packed
    python benchmarks/population_check.py check --pool A.tgz [B.tgz ...] --out RESULT.json   # on any machine

`pool` runs the canonical pipeline over the given seeds (`rankcert.tools.parallel --per-gpu K`) and packs its
params, predictions and certify.json as benchmarks/per_seed_bench.py --keep-predictions does. `check` pools the
archives' seeds and, for each variant, reads `--draws` random orderings of them through the declared looks
(params.yaml certify.population, the pool's own size as its last look, as certify reads a run of that many seeds):
the share of orderings per verdict, with the pool's own pass share (a seed without a Δ fails). Writes the
contract key `pools` (per pool and variant: the share of orderings per verdict) to RESULT.json and a short
RESULT.md beside it. The simulated truths are benchmarks/population_sim.py's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.evidence_check import packed_rule, read_run  # noqa: E402
from benchmarks.multi_gpu_bench import timed, verdicts  # noqa: E402
from benchmarks.per_seed_bench import keep_predictions, workspace  # noqa: E402
from benchmarks.warm_bench import device_name  # noqa: E402
from rankcert.certification import collapse, population  # noqa: E402
from rankcert.certification.stats import passes  # noqa: E402
from rankcert.config.params import load_params  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402

VERDICTS = (population.SAFE, population.UNSAFE, population.UNSETTLED)


def pool(args) -> None:
    seeds = [int(s) for s in args.seeds.split(",")]
    ws = workspace(args.root / "pool", args, demo.PROJECT, seeds)
    command = [sys.executable, "-m", "rankcert.tools.parallel", "--per-gpu", str(args.per_gpu)]
    started = time.perf_counter()
    try:
        seconds, output = timed(command, ws, dict(os.environ, PYTHONUNBUFFERED="1"), True)
    finally:  # a failed stage (a collapsed run can fail certify's inputs) must not lose the predictions made
        keep_predictions(ws, args.out)
        for log in sorted(ws.glob("bench-*.log"))[-1:]:  # every stage's lines: the time breakdown reads them
            args.out.with_suffix(".log").write_bytes(log.read_bytes())
    facts = {"device": device_name(), "packages": package_versions(), "pool_seeds": seeds, "pool_s": round(seconds, 2),
             "per_gpu": args.per_gpu, "stages": output.count("Running stage '"), "verdicts": verdicts(ws),
             "wall_s": round(time.perf_counter() - started, 2)}
    args.out.with_suffix(".json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in facts.items() if k != "packages"}), flush=True)


def pooled_deltas(archives: list[Path]) -> tuple[dict, dict[str, dict[int, float | None]]]:
    """(the first archive's params, variant -> seed -> Δ as certify computes it; None where the probe failed its
    gate)."""
    raw, deltas = None, {}
    for archive in archives:
        params, correct = read_run(archive)
        raw = raw or params
        rule = packed_rule(params)
        for (seed, name), right in correct.items():
            if name != "probe":
                probe = correct[(seed, "probe")]
                gate = probe.mean() >= rule.probe_min_accuracy - 1e-9
                delta = (int(right.sum()) - int(probe.sum())) / right.size
                deltas.setdefault(name, {})[seed] = delta if gate else None
    return raw, deltas


def check(args) -> None:
    raw, deltas = pooled_deltas(args.pool)
    rule = packed_rule(raw)
    p = load_params(args.params).certify.population  # the procedure as declared now, not as the pool ran
    seeds = sorted(next(iter(deltas.values())))
    rng = np.random.default_rng(args.draw_seed)
    orders = [list(rng.permutation(seeds)) for _ in range(args.draws)]
    variants = {}
    for name, per_seed in deltas.items():
        counts = {v: 0 for v in VERDICTS}
        for order in orders:
            counts[population.judge([per_seed[s] for s in order], p, rule.tolerance, rule.confidence).verdict] += 1
        passing = sum(d is not None and passes(d, rule.tolerance) for d in per_seed.values())
        variants[name] = {"pool_pass_share": round(passing / len(seeds), 4),
                          **{v: round(c / args.draws, 4) for v, c in counts.items()}}
    name = args.name or f"{len(seeds)}-seed pool"
    found = pooled_collapses(args.pool)
    for adapter, rate in found["rates"].items():
        variants.setdefault(adapter, {})["collapse"] = rate
    result = {"pool_seeds": seeds, "draws": args.draws, "share": p.share, "confidence": rule.confidence,
              "tolerance": rule.tolerance, "looks": list(population.plan(tuple(p.looks), len(seeds))),
              "spending": p.spending, "pools": {name: variants}, "collapses": {name: found["runs"]}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(args.out.with_suffix(".md").read_text())


def pooled_collapses(archives: list[Path]) -> dict:
    """The pool's collapsed runs (rankcert.certification.collapse) and each adapter's rate with its exact interval."""
    accuracies, labels = {}, None
    for archive in archives:
        _, correct = read_run(archive)
        for (seed, adapter), right in correct.items():
            accuracies.setdefault(seed, {})[adapter] = float(right.mean())
        labels = read_labels(archive)
    runs, rates = collapse.survey(accuracies, labels)
    return {"runs": [c.line() for c in runs],
            "rates": {a: {"collapsed": r.collapsed, "runs": r.runs, "low": round(r.low, 4), "high": round(r.high, 4)}
                      for a, r in rates.items()}}


def read_labels(archive: Path) -> list[int]:
    """The eval labels of the archive's first prediction file (every file of a run has the same)."""
    import io
    import tarfile

    import pandas as pd

    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".csv"))
        return pd.read_csv(io.BytesIO(tar.extractfile(member).read()))["label"].tolist()


def markdown(r: dict) -> str:
    lines = [f"# Population verdict over orderings of a pool of {len(r['pool_seeds'])} seeds", "",
             f"The pool (seeds {r['pool_seeds'][0]}, {r['pool_seeds'][1]}, … {r['pool_seeds'][-1]}), {r['draws']:,} "
             f"random orderings, each read at the looks of plan {r['looks']} up to its {len(r['pool_seeds'])} seeds "
             f"({r['spending']} spending, confidence "
             f"{r['confidence']:.0%}, claimed share {r['share']:.0%}, exact binomial boundaries on the pass count).", ""]
    for pool, variants in r["pools"].items():
        lines += [f"## {pool}", "", "| variant | pool pass share | SAFE | UNSAFE | UNSETTLED |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {v['pool_pass_share']:.1%} | {v['SAFE']:.1%} | {v['UNSAFE']:.1%} | {v['UNSETTLED']:.1%} |"
                  for n, v in variants.items() if "SAFE" in v]
        lines += ["", "Collapsed runs (rankcert/certification/collapse.py):", ""]
        lines += [f"- {line}" for line in r["collapses"][pool]] or ["- none"]
        lines += ["", "| adapter | collapsed | exact 95% interval |", "|---|---|---|"]
        lines += [f"| {n} | {v['collapse']['collapsed']} of {v['collapse']['runs']} | {v['collapse']['low']:.1%} to "
                  f"{v['collapse']['high']:.1%} |" for n, v in variants.items() if "collapse" in v]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["pool", "check"])
    parser.add_argument("--params", type=Path, default=Path(__file__).resolve().parent.parent / "params.yaml",
                        help="check: the procedure (certify.population) to read the pool with")
    parser.add_argument("--name", help="check: the pool's name in the result")
    parser.add_argument("--pool", type=Path, nargs="*", default=[], help="check: the pool archives")
    parser.add_argument("--draws", type=int, default=2000, help="check: random orderings of the pool")
    parser.add_argument("--draw-seed", type=int, default=0)
    parser.add_argument("--seeds", help="pool: the seeds, comma-separated")
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--set", action="append", default=[], help="params override key=value (lists: a,b)")
    parser.add_argument("--per-gpu", type=int, default=4)
    parser.add_argument("--root", type=Path, default=Path("/tmp/rankcert-population"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    {"pool": pool, "check": check}[args.phase](args)


if __name__ == "__main__":
    main()
