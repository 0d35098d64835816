"""Stage validate: params, the policy, the model's limits, the device and a local data folder checked as a whole,
before any other stage runs.

DVC deletes a stage's outputs before it runs the stage, so bad input must stop the run here, while the last
good results are still in place. Every stage depends on this stage's marker, which never changes; each per-seed
stage also depends on its own data/params/<stage>.json, written here: the params values it reads
(rankcert.config.stage_params), so it reruns exactly when one of them changes.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankcert.config.entrypoint import command_line, run_main
from rankcert.config.params import read_params_yaml
from rankcert.config.stage_params import SEED_STAGE_PARAMS, stage_params
from rankcert.runtime.outputs import atomic_dir, write_json
from rankcert.validation import check_inputs


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_line(__doc__, params=True)
    parser.add_argument("--out", type=Path, required=True, help="a marker the other stages depend on")
    parser.add_argument("--params-out", type=Path, required=True, help="folder for one <stage>.json per per-seed stage")
    args = parser.parse_args(argv)
    params, _ = check_inputs(args.params)
    raw = read_params_yaml(args.params)
    with atomic_dir(args.params_out) as scratch:
        for stage in SEED_STAGE_PARAMS:
            write_json(scratch / f"{stage}.json", stage_params(raw, stage))
    write_json(args.out, {"valid": True})  # the same bytes whatever the params: nothing downstream reruns for it
    print(f"[validate] params, policy {params.certify.policy}, model limits, device and data are valid", flush=True)


if __name__ == "__main__":
    run_main(main)
