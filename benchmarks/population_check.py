"""The population verdict checked against a real population: a pool of many seeds, and subsets drawn from it.

    python benchmarks/population_check.py pool --seeds 42,123,...  --model DIR --data DIR --set k=v ... \\
        --per-gpu 4 --out POOL.tgz                    # on a GPU machine: the pool's predictions, packed
    python benchmarks/population_check.py check --pool A.tgz [B.tgz ...] --out RESULT.json   # on any machine

`pool` runs the canonical pipeline over the given seeds (`rankcert.tools.parallel --per-gpu K`) and packs its
params, predictions and certify.json as benchmarks/per_seed_bench.py --keep-predictions does. `check` treats the
pooled seeds as the population: each variant's true p-quantile of Δ is the pool's, so the truth of "at least a
share p of runs have Δ ≥ −tolerance" is known; from many random subsets it measures how often the population
verdict at each look, and the sequential procedure over the looks, says SAFE where the truth is not (and UNSAFE
where it is), and how many seeds the procedure used. Writes the contract keys `pool_seeds`, `by_look`,
`false_safe_rate`, `mean_seeds_used` to RESULT.json and a short RESULT.md beside it.
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
from scipy.special import ndtri  # noqa: E402

from benchmarks.evidence_check import packed_rule, read_run  # noqa: E402
from benchmarks.multi_gpu_bench import timed, verdicts  # noqa: E402
from benchmarks.per_seed_bench import keep_predictions, workspace  # noqa: E402
from benchmarks.warm_bench import device_name  # noqa: E402
from rankcert.certification import evidence, population  # noqa: E402
from rankcert.runtime.runfacts import package_versions  # noqa: E402
from rankcert.tools import demo  # noqa: E402


def pool(args) -> None:
    seeds = [int(s) for s in args.seeds.split(",")]
    ws = workspace(args.root / "pool", args, demo.PROJECT, seeds)
    command = [sys.executable, "-m", "rankcert.tools.parallel", "--per-gpu", str(args.per_gpu)]
    started = time.perf_counter()
    try:
        seconds, output = timed(command, ws, dict(os.environ, PYTHONUNBUFFERED="1"), True)
    finally:  # a failed stage (a collapsed run can fail certify's inputs) must not lose the predictions made
        keep_predictions(ws, args.out)
    facts = {"device": device_name(), "packages": package_versions(), "pool_seeds": seeds, "pool_s": round(seconds, 2),
             "per_gpu": args.per_gpu, "stages": output.count("Running stage '"), "verdicts": verdicts(ws),
             "wall_s": round(time.perf_counter() - started, 2)}
    args.out.with_suffix(".json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in facts.items() if k != "packages"}), flush=True)


def pooled_differences(archives: list[Path]) -> tuple[dict, dict[str, dict[int, np.ndarray | None]]]:
    """(the first archive's params, variant -> seed -> per-example differences D; None where the probe failed
    its gate)."""
    raw, diffs = None, {}
    for archive in archives:
        params, correct = read_run(archive)
        raw = raw or params
        rule = packed_rule(params)
        for (seed, name), right in correct.items():
            if name != "probe":
                probe = correct[(seed, "probe")]
                gate = probe.mean() >= rule.probe_min_accuracy - 1e-9
                diffs.setdefault(name, {})[seed] = right.astype(np.int8) - probe.astype(np.int8) if gate else None
    return raw, diffs


def judged(rows: list[np.ndarray | None], rule, p) -> population.PopulationVerdict:
    """The population verdict as certify reads it: Δs and the eval-part floor from the same rows."""
    deltas = [None if d is None else float(d.mean()) for d in rows]

    def eval_sd(k: int) -> float:
        head = rows[:k]
        return 0.0 if k < 2 or any(d is None for d in head) else evidence.components(np.stack(head)).parts_sd[1]
    return population.judge(deltas, p, rule.tolerance, rule.confidence, eval_sd)


def truth(per_seed: dict[int, np.ndarray | None], share: float, tolerance: float) -> tuple[str, float]:
    """The pool as the population: SAFE when at least `share` of its seeds pass (a missing Δ fails)."""
    passing = sum(d is not None and d.mean() >= -tolerance - 1e-9 for d in per_seed.values()) / len(per_seed)
    return ("SAFE" if passing >= share - 1e-9 else "UNSAFE"), passing


def check(args) -> None:
    raw, deltas = pooled_differences(args.pool)
    rule = packed_rule(raw)
    p, looks = rule.population, tuple(rule.population.looks)
    seeds = sorted(next(iter(deltas.values())))
    truths = {name: truth(per_seed, p.share, rule.tolerance) for name, per_seed in deltas.items()}
    rng = np.random.default_rng(args.draw_seed)
    by_look = {k: {name: {"SAFE": 0, "UNSAFE": 0, "UNSETTLED": 0} for name in deltas} for k in looks}
    sequential = {name: {"SAFE": 0, "UNSAFE": 0, "UNSETTLED": 0, "seeds": []} for name in deltas}
    used = []
    for _ in range(args.draws):
        order = list(rng.permutation(seeds)[:looks[-1]])
        settled_at = []
        for name, per_seed in deltas.items():
            xs = [per_seed[s] for s in order]
            for k in looks:  # each look on its own: a one-look certificate of k seeds
                by_look[k][name][judged(xs[:k], rule, _one_look(p, k)).verdict] += 1
            got = judged(xs, rule, p)  # the sequential procedure
            sequential[name][got.verdict] += 1
            settled_at.append(got.looks[-1].seeds if got.verdict != "UNSETTLED" else looks[-1])
        used.append(max(settled_at))
    n = args.draws
    rows = {name: {"pool_passing_share": round(passing, 4), "truth": verdict,
                   **{v: round(sequential[name][v] / n, 4) for v in ("SAFE", "UNSAFE", "UNSETTLED")},
                   "wrong": round(sequential[name]["UNSAFE" if verdict == "SAFE" else "SAFE"] / n, 4)}
            for name, (verdict, passing) in truths.items()}
    false_safe = [sequential[name]["SAFE"] / n for name, (verdict, _) in truths.items() if verdict == "UNSAFE"]
    result = {"pool_seeds": seeds, "draws": n, "share": p.share, "confidence": rule.confidence,
              "tolerance": rule.tolerance, "looks": list(looks), "spending": p.spending,
              "by_look": {str(k): {name: {v: round(c / n, 4) for v, c in counts.items()} | {
                  "wrong": round(counts["UNSAFE" if truths[name][0] == "SAFE" else "SAFE"] / n, 4)}
                  for name, counts in table.items()} for k, table in by_look.items()},
              "sequential": rows, "false_safe_rate": round(max(false_safe), 4) if false_safe else None,
              "mean_seeds_used": round(float(np.mean(used)), 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(args.out.with_suffix(".md").read_text())


def simulate(args) -> None:
    """Known truths: normal per-seed Δs with the pool-like spread `--sd` points, their (1 − share)-quantile placed
    at distances from the line; and the boundary truth for the false-SAFE rate (normal, and Student's t3)."""
    rule = packed_rule({"certify": {}})
    p, tol, gamma = rule.population, rule.tolerance, rule.confidence
    z = float(ndtri(p.share))  # the share-quantile of N(0, 1): 1.28 at 0.90
    rng = np.random.default_rng(args.draw_seed)
    rows = []
    for distance in (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0):
        centre = -tol + distance / 100 + z * args.sd / 100  # the quantile at −tol + distance
        counts, used = {"SAFE": 0, "UNSAFE": 0, "UNSETTLED": 0}, []
        for _ in range(args.draws):
            got = population.judge(list(centre + args.sd / 100 * rng.standard_normal(p.looks[-1])), p, tol, gamma)
            counts[got.verdict] += 1
            used.append(got.looks[-1].seeds)
        rows.append({"quantile_minus_line_points": distance, **{k: round(v / args.draws, 4) for k, v in counts.items()},
                     "mean_seeds": round(float(np.mean(used)), 2)})
    boundary = {}
    for name, draw, q in [("normal", rng.standard_normal, -z), ("t3", lambda n: rng.standard_t(3, n), -1.6377443536962102)]:
        for spending in ("calibrated", "bonferroni"):
            rule_k = population.PopulationParams(p.share, p.looks, spending)
            hits = sum(population.judge(list(-tol + 0.01 * (draw(p.looks[-1]) - q)), rule_k, tol, gamma).verdict == "SAFE"
                       for _ in range(args.draws))
            boundary[f"{name}_{spending}"] = round(hits / args.draws, 4)
    result = {"draws": args.draws, "sd_points": args.sd, "looks": p.looks, "share": p.share, "confidence": gamma,
              "expected_seeds": rows, "false_safe_at_the_boundary": boundary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))


def _one_look(p, k):
    import dataclasses

    return dataclasses.replace(p, looks=[k])


def markdown(r: dict) -> str:
    lines = [f"# Population verdict against a pool of {len(r['pool_seeds'])} seeds", "",
             f"The pool (seeds {r['pool_seeds'][0]}, {r['pool_seeds'][1]}, … {r['pool_seeds'][-1]}) stands for the "
             f"population: a variant is truly SAFE when at least {r['share']:.0%} of the pool's seeds have Δ ≥ "
             f"−{100 * r['tolerance']:.1f} points. {r['draws']:,} random orderings of the pool; each is read at looks "
             f"{r['looks']} ({r['spending']} spending, confidence {r['confidence']:.0%}). The pool's own share is an "
             "estimate (48 seeds: ± about 4 points at 90%), and the orderings share seeds, so the rates below describe "
             "this pool, not every pool.", "",
             "## The sequential procedure (make settle)", "",
             "| variant | pool passing share | truth | SAFE | UNSAFE | UNSETTLED | wrong |", "|---|---|---|---|---|---|---|"]
    for name, v in r["sequential"].items():
        lines.append(f"| {name} | {v['pool_passing_share']:.0%} | {v['truth']} | {v['SAFE']:.1%} | {v['UNSAFE']:.1%} | "
                     f"{v['UNSETTLED']:.1%} | {v['wrong']:.1%} |")
    lines += ["", f"False-SAFE rate (worst truly UNSAFE variant): {_pct(r['false_safe_rate'])}; seeds used until "
              f"every verdict settled (or the last look): {r['mean_seeds_used']} on average.", "",
              "## One look of k seeds (no sequential split)", "",
              "| variant | " + " | ".join(f"{k} seeds: SAFE / UNSAFE / wrong" for k in r["by_look"]) + " |",
              "|---|" + "---|" * len(r["by_look"])]
    for name in r["sequential"]:
        cells = [f"{t[name]['SAFE']:.0%} / {t[name]['UNSAFE']:.0%} / {t[name]['wrong']:.1%}" for t in r["by_look"].values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "none truly UNSAFE" if value is None else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["pool", "check", "simulate"])
    parser.add_argument("--sd", type=float, default=1.0, help="simulate: the per-seed Δs' spread in points")
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
    {"pool": pool, "check": check, "simulate": simulate}[args.phase](args)


if __name__ == "__main__":
    main()
