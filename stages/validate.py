"""Stage validate: params, the policy, the model's limits, the device and a local data folder checked as a whole,
before any other stage runs.

DVC deletes a stage's outputs before it runs the stage, so bad input must stop the run here, while the last
good results are still in place. Every stage depends on this stage's output, which never changes.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankcert.config.entrypoint import command_line, run_main
from rankcert.runtime.outputs import write_json
from rankcert.validation import check_inputs


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_line(__doc__, params=True)
    parser.add_argument("--out", type=Path, required=True, help="a marker the other stages depend on")
    args = parser.parse_args(argv)
    params, _ = check_inputs(args.params)
    write_json(args.out, {"valid": True})  # the same bytes whatever the params: nothing downstream reruns for it
    print(f"[validate] params, policy {params.certify.policy}, model limits, device and data are valid", flush=True)


if __name__ == "__main__":
    run_main(main)
