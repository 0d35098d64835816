"""What stage validate checks before anything runs: params, the policy, the model's limits, tracked local inputs,
an imported adapter's config, the device and a local data folder.

Shared by the stage and the pre-release gate (which names a failure in one line instead of every stage DVC then
calls out of date). Light: no torch, no model loading.
"""
from __future__ import annotations

from pathlib import Path

from rankcert.certification.policy import Policy, load_policy
from rankcert.config.params import Params, load_params
from rankcert.inputs.sources import check_model_limits, check_tracked
from rankcert.runtime import device
from rankcert.training.imported import check_config


def check_inputs(params_path: Path, here: bool = True) -> tuple[Params, Policy]:
    """The params and their policy, once both are valid; otherwise RankcertError naming what to fix. `here`: also
    what only the machine that runs the stages must have, runtime.device (torch) and a local data folder read as
    prepare would (pandas); the pre-release gate, whose CI job has neither and runs no stage, leaves them to
    validate, whose output the gate's `dvc status` check covers."""
    params = load_params(params_path)
    policy = load_policy(params.certify.policy)
    check_model_limits(params.model.name, params.model.max_length)
    check_tracked(params.model.name, "model.name", params.inputs)
    check_tracked(params.data.source, "data.source", params.inputs)
    if params.probe.adapter:  # a user's adapter in the probe's place: its config, base and rank (shapes: probe)
        check_config(params)
        check_tracked(params.probe.adapter, "probe.adapter", params.inputs)
    if here:
        device.check(params.runtime.device)
        from rankcert.inputs.data import check_local_data  # pandas: only where the data is read

        check_local_data(params.data, params.model.num_labels, params.seeds)
    return params, policy
