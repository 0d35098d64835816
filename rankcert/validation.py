"""What stage validate checks before anything runs: params, the policy, the model's limits, tracked local inputs,
the device and a local data folder.

Shared by the stage and the pre-release gate (which names a failure in one line instead of every stage DVC then
calls out of date). Light: no torch, no model loading.
"""
from __future__ import annotations

from pathlib import Path

from rankcert.data import check_local_data
from rankcert.gpus import check_device
from rankcert.params import Params, load_params
from rankcert.policy import Policy, load_policy
from rankcert.sources import check_model_limits, check_tracked


def check_inputs(params_path: Path) -> tuple[Params, Policy]:
    """The params and their policy, once both are valid; otherwise RankcertError naming what to fix."""
    params = load_params(params_path)
    policy = load_policy(params.certify.policy, params.variant_names)
    check_model_limits(params.model.name, params.model.max_length)
    check_tracked(params.model.name, "model.name", params.inputs)
    check_tracked(params.data.source, "data.source", params.inputs)
    check_device(params.runtime.device)
    check_local_data(params.data, params.model.num_labels, params.seeds)
    return params, policy
