"""Stage probe (per seed): train the high-rank probe adapter and record its per-module spectra."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rankcert import spectra
from rankcert.errors import run_main
from rankcert.outputs import write_json
from rankcert.params import load_params
from rankcert.training import fit_adapter


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--prepared", type=Path, required=True, help="output folder of prepare for this seed")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    probe = params.probe
    print(f"[probe@{args.seed}] r={probe.rank} alpha={probe.alpha}, {params.train.steps} steps", flush=True)

    def write_spectra(folder: Path, plan: dict[str, int]) -> None:  # inside the stage's one output folder
        found = spectra.adapter_spectra(folder / "adapter", {m: probe.alpha / probe.rank for m in plan})
        write_json(folder / "spectra.json", {
            "probe_rank": probe.rank,
            "modules": {s.module: {"singular_values": s.singular_values, "stable_rank": s.stable_rank} for s in found},
        })

    fit_adapter(params, args.seed, lambda modules: {m: probe.rank for m in modules}, lambda rank: probe.alpha,
                args.prepared, args.out, desc=f"probe@{args.seed}", extra=write_spectra)


if __name__ == "__main__":
    run_main(main)
