"""Stage validate: params, the policy, the model's limits, the device and a local data folder checked as a whole,
before any other stage runs.

DVC deletes a stage's outputs before it runs the stage, so bad input must stop the run here, while the last
good results are still in place. Every stage depends on this stage's output, which never changes.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rankcert.data import check_local_data
from rankcert.errors import run_main
from rankcert.gpus import check_device
from rankcert.outputs import write_json
from rankcert.params import load_params
from rankcert.policy import load_policy
from rankcert.sources import check_model_limits, check_tracked


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="a marker the other stages depend on")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    load_policy(params.certify.policy, params.variant_names)
    check_model_limits(params.model.name, params.model.max_length)
    check_tracked(params.model.name, "model.name", params.inputs)
    check_tracked(params.data.source, "data.source", params.inputs)
    check_device(params.runtime.device)
    check_local_data(params.data, params.model.num_labels, params.seeds)
    write_json(args.out, {"valid": True})  # the same bytes whatever the params: nothing downstream reruns for it
    print(f"[validate] params, policy {params.certify.policy}, model limits, device and data are valid", flush=True)


if __name__ == "__main__":
    run_main(main)
