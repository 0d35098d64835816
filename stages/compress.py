"""Stage compress (per seed and variant): plan the variant's ranks from the probe's spectra, then retrain it
(per_layer, uniform) or cut the probe's update to those ranks (truncated_)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rankcert import spectra
from rankcert.errors import run_main
from rankcert.outputs import write_json
from rankcert.params import check_variant, load_params, parse_variant
from rankcert.results import read_spectra
from rankcert.text import rank_summary
from rankcert.training import fit_adapter
from rankcert.truncation import truncate_adapter


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--variant", required=True, help="a name from params.yaml variants")
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--probe", type=Path, required=True, help="output folder of the probe stage")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    variant = parse_variant(args.variant)  # from the name alone: the stage must not depend on the list
    check_variant(variant, params.probe.rank)
    c = params.compress
    per_layer = variant.plan_source.kind == "per_layer"
    probe_spectra = read_spectra(args.probe / "spectra.json") if per_layer else None

    def plan_for(modules: list[str]) -> dict[str, int]:
        return spectra.rank_plan(variant, modules, probe_spectra, c.energy_threshold, c.allowed_ranks,
                                 params.probe.rank)

    threshold = spectra.plan_threshold(variant, c.energy_threshold)

    def write_plan(folder: Path, plan: dict[str, int]) -> None:  # inside the stage's one output folder
        energy = {m: spectra.energy_rank(s, threshold) for m, s in probe_spectra.items()} if per_layer else None
        write_json(folder / "plan.json", {"variant": variant.name, "kind": variant.kind, "ranks": plan,
                                          "energy_ranks": energy, "energy_threshold": threshold if per_layer else None})

    desc = f"{variant.name}@{args.seed}"
    if variant.retrained:
        print(f"[compress@{args.seed}-{variant.name}] retraining from scratch, alpha = r", flush=True)
        plan = fit_adapter(params, args.seed, plan_for, float, args.prepared, args.out, desc=desc, extra=write_plan)
    else:
        plan = truncate_adapter(params, args.seed, plan_for, args.probe / "adapter", args.out, desc, extra=write_plan)
    print(f"[compress@{args.seed}-{variant.name}] plan: {rank_summary(plan)}", flush=True)


if __name__ == "__main__":
    run_main(main)
