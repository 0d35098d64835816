"""Check the evidence prediction against what happened: the first seeds of a many-seed run predict the rest.

    python benchmarks/evidence_check.py --run PREDICTIONS.tgz --first 3 --split-rows 872 --out RESULT.json

PREDICTIONS.tgz holds a run's params.yaml and data/eval/<seed>/<adapter>.csv (benchmarks/per_seed_bench.py
--keep-predictions, packed). From the first N seeds alone, rankcert.certification.evidence predicts each variant's stability
at the run's full seed count; beside it, what the full run shows: its verdict, its stability (the joint
example bootstrap over all seeds) and the population reading. Writes RESULT.json and RESULT.md.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rankcert.certification import evidence, stats  # noqa: E402
from rankcert.config import codec  # noqa: E402
from rankcert.config.params import CertifyParams  # noqa: E402
from rankcert.config.variants import parse_variant  # noqa: E402


def read_run(path: Path) -> tuple[dict, dict[tuple[int, str], np.ndarray]]:
    """(params, (seed, adapter) -> per-example correctness) from the packed run."""
    correct, raw = {}, None
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.name == "params.yaml":
                raw = yaml.safe_load(tar.extractfile(member).read())
            elif name.suffix == ".csv" and name.parts[-4:-2] == ("data", "eval"):
                frame = pd.read_csv(io.BytesIO(tar.extractfile(member).read()))
                correct[(int(name.parts[-2]), name.stem)] = (frame["prediction"] == frame["label"]).to_numpy()
    return raw, correct


def packed_rule(raw: dict) -> CertifyParams:
    """The packed run's certify section (the rule), with this checkout's values for keys an older rankcert lacked;
    only the rule, the seeds and the variants are read: a run packed by an older rankcert has other sections."""
    current = yaml.safe_load((Path(__file__).resolve().parent.parent / "params.yaml").read_text())["certify"]
    packed = {k: v for k, v in raw["certify"].items() if k != "population"}  # the procedure is this checkout's
    return codec.load(CertifyParams, {**current, **packed}, "certify")


def reading(seeds: list[int], variants: list[str], correct: dict, rule: CertifyParams, split_rows: int | None,
            counts: list[int] | None = None) -> dict[str, evidence.Evidence]:
    probe = {s: correct.get((s, "probe")) for s in seeds}
    per_variant = {v: {s: correct.get((s, v)) for s in seeds} for v in variants}
    return evidence.assess(probe, per_variant, rule, split_rows, extra_counts=counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--first", type=int, default=3)
    parser.add_argument("--split-rows", type=int, help="the whole eval split's size (SST-2 validation: 872)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    raw, correct = read_run(args.run)
    rule = packed_rule(raw)
    seeds, variants = [int(s) for s in raw["seeds"]], [parse_variant(v).name for v in raw["variants"]]
    first, full = seeds[:args.first], len(seeds)
    early = reading(first, variants, correct, rule, args.split_rows, [full])
    late = reading(seeds, variants, correct, rule, args.split_rows)
    n = len(next(iter(correct.values())))
    rows = {}
    for v in variants:
        deltas = [(int(correct[(s, v)].sum()) - int(correct[(s, "probe")].sum())) / n for s in seeds]
        verdict_full = stats.summarize(v, [stats.SeedResult(s, stats.PASS if stats.passes(d, rule.tolerance)
                                                            else stats.FAIL, None, None, d, None, None, None)
                                           for s, d in zip(seeds, deltas)], rule).status
        verdict_first = "SAFE" if all(stats.passes(d, rule.tolerance) for d in deltas[:args.first]) else "UNSAFE"
        e, f = early[v], late[v]
        rows[v] = {
            f"verdict_at_{args.first}": verdict_first,
            f"stability_at_{args.first}": round(e.stability[n][args.first], 4),
            f"predicted_stability_at_{full}": round(e.stability[n][full], 4),
            f"predicted_verdict_at_{full}": _likely(e.stability[n][full]),
            f"verdict_at_{full}": verdict_full,
            f"stability_at_{full}": round(f.stability[n][full], 4),
            f"mean_delta_lower_95_at_{args.first}": round(e.mean_delta_lower_95, 6),
            f"mean_delta_lower_95_at_{full}": round(f.mean_delta_lower_95, 6),
            f"p_new_seed_passes_at_{args.first}": round(e.p_new_seed_passes, 4),
            f"pass_rate_of_the_other_{full - args.first}": round(
                sum(stats.passes(d, rule.tolerance) for d in deltas[args.first:]) / (full - args.first), 4),
            f"seeds_for_stable_verdict_at_{args.first}": e.seeds_for_stable_verdict,
            f"stable_verdict_at_{args.first}": e.stable_verdict,
            "mean_delta_at_full": round(float(np.mean(deltas)), 6),
        }
    result = {"run": args.run.name, "seeds": seeds, "first": args.first, "eval_examples": n,
              "tolerance": rule.tolerance, "resamples": rule.bootstrap_resamples, "variants": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result, args.first, full))
    print(args.out.with_suffix(".md").read_text())


def _likely(share: float) -> str:
    return f"SAFE ({share:.0%})" if share >= 0.5 else f"UNSAFE ({1 - share:.0%})"


def markdown(result: dict, first: int, full: int) -> str:
    lines = [f"# Evidence check: the first {first} seeds predict {full}", "",
             f"Run {result['run']}, {result['eval_examples']} eval examples, tolerance "
             f"{100 * result['tolerance']:.1f} points, {result['resamples']:,} resamples. From seeds "
             f"{result['seeds'][:first]} alone, rankcert.certification.evidence predicts each variant's stability at "
             f"{full} seeds; "
             f"beside it, what all {full} seeds showed.", "",
             f"| variant | verdict at {first} (stability) | predicted SAFE share at {full} | verdict at {full} "
             f"(stability) | p new seed passes (at {first}) | the other {full - first} seeds' pass rate | "
             f"mean Δ lower 95% at {first} → {full} |", "|---|---|---|---|---|---|---|"]
    for v, r in result["variants"].items():
        lines.append(f"| {v} | {r[f'verdict_at_{first}']} ({r[f'stability_at_{first}']:.0%}) | "
                     f"{r[f'predicted_stability_at_{full}']:.0%} | {r[f'verdict_at_{full}']} "
                     f"({r[f'stability_at_{full}']:.0%}) | {r[f'p_new_seed_passes_at_{first}']:.0%} | "
                     f"{r[f'pass_rate_of_the_other_{full - first}']:.0%} | "
                     f"{100 * r[f'mean_delta_lower_95_at_{first}']:+.2f} → {100 * r[f'mean_delta_lower_95_at_{full}']:+.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
