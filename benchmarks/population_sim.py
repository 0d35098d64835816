"""The population verdict simulated as certify runs it, under named truths (rankcert.certification.truths).

    python benchmarks/population_sim.py --runs 4000 --out benchmarks/results/2026-12-07-population-simulation.json

Per truth: `runs` certifications, each of the last look's seeds drawn as per-example correctness on 500 examples
(probe and variant; a collapsed probe fails its gate), Δ and pass as certify computes them, then
population.judge over the declared looks (params.yaml certify.population). Each rate is also computed exactly
from the truth's pass share (population.operating: the verdict reads only the pass count). The order check: for
`pools` simulated pools of the last look's seeds per truth, 2,000 orderings each, the share of orderings giving
the rarer of SAFE and UNSAFE; and, exactly, its worst case over every pool (it depends only on how many of the
pool's seeds fail). Writes RESULT.json (`truths`, `order`, `design`) and RESULT.md (the table of expected seeds).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from rankcert.certification import population, truths  # noqa: E402
from rankcert.config.params import load_params  # noqa: E402

ORDERINGS = 2000


def table_truths(share: float) -> list[truths.Truth]:
    """Truths beyond the acceptance ones, for the table of expected seeds: clearly unsafe to all passing."""
    return [truths.Truth("passing_60pct", 0.60), truths.Truth("passing_80pct", 0.80),
            truths.Truth("passing_95pct", 0.95), truths.Truth("passing_96pct_like_r16", 0.96),
            truths.Truth("passing_all", 1.0, scale=0.004)]


def simulate(truth, rule, tolerance, confidence, rng, runs, d) -> dict:
    got = truths.run(truth, rule, tolerance, confidence, rng, runs, per_example=True)
    share = truths.pass_share(truth, truths.centre(truth, tolerance), tolerance)
    safe, unsafe, seeds = population.operating(d, share)
    se = {k: math.sqrt(max(got[k] * (1 - got[k]), 1e-12) / runs) for k in ("SAFE", "UNSAFE")}
    return {"pass_share": round(share, 6), "observed_pass_share": round(got["observed_share"], 4), "runs": runs,
            "false_safe": round(got["SAFE"], 4) if share < rule.share + 1e-9 else None,
            "false_unsafe": round(got["UNSAFE"], 4) if share >= rule.share - 1e-9 else None,
            "SAFE": round(got["SAFE"], 4), "UNSAFE": round(got["UNSAFE"], 4), "UNSETTLED": round(got["UNSETTLED"], 4),
            "se_safe": round(se["SAFE"], 4), "se_unsafe": round(se["UNSAFE"], 4), "mean_seeds": round(got["mean_seeds"], 2),
            "exact": {"SAFE": round(safe, 5), "UNSAFE": round(unsafe, 5), "mean_seeds": round(seeds, 2)}}


def orderings(truth, rule, tolerance, confidence, rng, pools: int) -> dict:
    """Simulated pools of the last look's seeds; per pool the share of ORDERINGS orderings with the rarer verdict."""
    n = rule.looks[-1]
    x = truths.deltas(truth, tolerance, rng, pools, n, per_example=True)
    minority = []
    for row in x:
        counts = {population.SAFE: 0, population.UNSAFE: 0}
        for _ in range(ORDERINGS):
            order = rng.permutation(row)
            verdict = population.judge([None if math.isnan(v) else float(v) for v in order], rule, tolerance,
                                       confidence).verdict
            counts[verdict] = counts.get(verdict, 0) + 1
        minority.append(min(counts[population.SAFE], counts[population.UNSAFE]) / ORDERINGS)
    return {"pools": pools, "orderings": ORDERINGS, "max_minority_share": max(minority),
            "mean_minority_share": round(float(np.mean(minority)), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4000, help="simulated certifications per truth")
    parser.add_argument("--pools", type=int, default=20, help="simulated pools per truth for the order check")
    parser.add_argument("--params", type=Path, default=Path(__file__).resolve().parent.parent / "params.yaml")
    parser.add_argument("--draw-seed", type=int, default=20261207)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    c = load_params(args.params).certify
    rule, tol, gamma = c.population, c.tolerance, c.confidence
    looks = tuple(rule.looks)
    d = population.design(looks, rule.share, gamma, rule.spending)
    rng = np.random.default_rng(args.draw_seed)
    started = time.perf_counter()
    groups = {"boundary": truths.boundary_truths(rule.share), "safe": truths.safe_truths(rule.share),
              "table": table_truths(rule.share)}
    rows = {}
    for group, listed in groups.items():
        for truth in listed:
            rows[truth.name] = {"group": group, **simulate(truth, rule, tol, gamma, rng, args.runs, d)}
            print(truth.name, json.dumps(rows[truth.name]), flush=True)
    exact_order = [min(population.order_shares(d, k)) for k in range(looks[-1] + 1)]
    order = {"exact_worst_minority_share_any_pool": round(max(exact_order), 6),
             "exact_worst_failed_seeds": int(np.argmax(exact_order)),
             "simulated": {t.name: orderings(t, rule, tol, gamma, rng, args.pools)
                           for t in [truths.boundary_truths(rule.share)[0], truths.boundary_truths(rule.share)[4],
                                     truths.safe_truths(rule.share)[0]]}}
    result = {"share": rule.share, "confidence": gamma, "tolerance": tol, "looks": list(looks),
              "spending": rule.spending, "examples": truths.EXAMPLES,
              "design": {"safe_at": list(d.safe), "unsafe_at": list(d.unsafe),
                         "false_safe_spent": [round(x, 6) for x in d.spent_safe],
                         "false_unsafe_spent": [round(x, 6) for x in d.spent_unsafe]},
              "truths": rows, "order": order, "wall_s": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(args.out.with_suffix(".md").read_text())


def markdown(r: dict) -> str:
    alpha = 1 - r["confidence"]
    lines = [f"# Population verdict simulated as certify runs it ({r['looks']} seeds, {r['spending']} spending)", "",
             f"Claim: with {r['confidence']:.0%} confidence at least {r['share']:.0%} of training runs have Δ ≥ "
             f"−{100 * r['tolerance']:.1f} points. Each run: per-example correctness of probe and variant on "
             f"{r['examples']} examples, Δ and pass as certify computes them, the exact binomial group-sequential "
             "verdict over the looks. Simulated rates (± one Monte Carlo SE) beside the exact rates from the truth's "
             f"pass share. Acceptance: false SAFE ≤ {alpha:.0%} + 3 SE at the boundary; false UNSAFE ≤ {alpha:.0%} on "
             "safe truths.", "",
             "| truth | pass share | SAFE | UNSAFE | UNSETTLED | exact SAFE / UNSAFE | mean seeds (exact) |",
             "|---|---|---|---|---|---|---|"]
    for name, v in r["truths"].items():
        e = v["exact"]
        lines.append(f"| {name} | {v['pass_share']:.4f} | {v['SAFE']:.2%} ± {v['se_safe']:.2%} | {v['UNSAFE']:.2%} ± "
                     f"{v['se_unsafe']:.2%} | {v['UNSETTLED']:.2%} | {e['SAFE']:.2%} / {e['UNSAFE']:.2%} | "
                     f"{v['mean_seeds']} ({e['mean_seeds']}) |")
    o = r["order"]
    lines += ["", f"Boundaries (passing seeds): SAFE at ≥ {r['design']['safe_at']}, UNSAFE at ≤ "
              f"{r['design']['unsafe_at']} at looks {r['looks']}.", "",
              f"Seed order: over every ordering of any pool of {r['looks'][-1]} seeds the rarer of SAFE and UNSAFE "
              f"takes at most {o['exact_worst_minority_share_any_pool']:.2%} of orderings (exact; worst with "
              f"{o['exact_worst_failed_seeds']} failing seeds). Simulated pools: "
              + "; ".join(f"{k}: worst {v['max_minority_share']:.2%} over {v['pools']} pools" for k, v in o["simulated"].items())
              + ".", "",
              "The cost of robustness: the count of passing seeds needs no model of the Δs, but it needs seeds; with "
              f"{r['share']:.0%} claimed, {math.ceil(math.log(alpha) / math.log(r['share']))} passes in a row are the "
              "least that can say SAFE at all, and a share just above the claim is told apart only slowly."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
