"""Stage compress (per seed and variant): plan the variant's ranks from the probe's spectra and retrain it."""
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
    probe_spectra = read_spectra(args.probe / "spectra.json") if variant.kind == "per_layer" else None

    def plan_for(modules: list[str]) -> dict[str, int]:
        return spectra.rank_plan(variant, modules, probe_spectra, c.energy_threshold, c.allowed_ranks,
                                 params.probe.rank)

    def write_plan(folder: Path, plan: dict[str, int]) -> None:  # inside the stage's one output folder
        energy = ({m: spectra.energy_rank(s, c.energy_threshold) for m, s in probe_spectra.items()}
                  if probe_spectra else None)
        write_json(folder / "plan.json", {"variant": variant.name, "kind": variant.kind, "ranks": plan,
                                          "energy_ranks": energy, "energy_threshold": c.energy_threshold})

    print(f"[compress@{args.seed}-{variant.name}] retraining from scratch, alpha = r", flush=True)
    plan = fit_adapter(params, args.seed, plan_for, float, args.prepared, args.out,
                       desc=f"{variant.name}@{args.seed}", extra=write_plan)
    print(f"[compress@{args.seed}-{variant.name}] plan: {rank_summary(plan)}", flush=True)


if __name__ == "__main__":
    run_main(main)
