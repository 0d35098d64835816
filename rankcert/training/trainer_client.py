"""A stage's side of the GPU trainer (rankcert.training.trainer_service): send the seed's jobs, show a bar per
training, take each trained adapter back as the stage would have made it."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file

from rankcert.config import codec
from rankcert.inputs.data import Encoded
from rankcert.runtime import services
from rankcert.runtime.channel import Channel, ConnectionClosed
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.outputs import SCRATCH
from rankcert.training.base import Job, SharedBase, Trained, job_bars
from rankcert.training.loop import checked_log
from rankcert.training.trainer_service import TrainRequest, trainer_key, trainer_paths

# More hardware queues than CUDA's default 8, so the streams of many trainings do not wait on each other by
# sharing one; it changes which kernels may overlap, never what a kernel computes.
TRAINER_ENV = {"CUDA_DEVICE_MAX_CONNECTIONS": "32"}


def connect_to_trainer(device: torch.device) -> Channel:
    """The trainer of this environment and GPU (the one CUDA_VISIBLE_DEVICES names after the lease), started if
    none runs; ServiceUnavailable if it can't be."""
    env = dict(os.environ)
    paths = trainer_paths(trainer_key(env, device.type))
    argv = [sys.executable, "-m", "rankcert.training.trainer_service", "--key", paths.key, "--device", device.type]
    return services.connect_or_start("the GPU trainer", paths, argv, env | TRAINER_ENV)


def fit_on_trainer(channel: Channel, base: SharedBase, jobs: list[Job], data: Encoded, label: str) -> Iterator[Trained]:
    """Train `jobs` on the trainer behind `channel`; yield each as it finishes, its weights in a CPU model."""
    if data.source is None:
        raise RankcertError(f"[{label}] the trainer reads the training data from its file; load it with load_encoded")
    out = (SCRATCH / "trainer" / f"{label.replace('@', '-')}-{os.getpid()}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    recipe = base.recipe.train
    request = TrainRequest(label, base.seed, base.recipe, jobs, str(data.source), str(out))
    channel.send({"op": "train", "train": codec.dump(request)})
    by_name = {job.name: job for job in jobs}
    bars = job_bars(jobs, label, recipe.steps)
    try:
        while by_name:
            message = _receive(channel, label)
            if message["event"] == "error":
                raise RankcertError(f"[{label}] the GPU trainer refused the trainings: {message['message']}")
            bar = bars[message["job"]]
            if message["event"] == "progress":
                bar.update(message["step"] - bar.n)
                continue
            bar.update(recipe.steps - bar.n)
            job = by_name.pop(message["job"])
            log = checked_log(job.name, message["losses"], recipe, label)
            yield Trained(job, _trained_model(base, job, Path(message["file"])), log, message["seconds"],
                          message["together"])
    finally:
        for bar in bars.values():
            bar.close()
        channel.close()
        if not any(out.iterdir()):  # each result file was taken back
            out.rmdir()


def _receive(channel: Channel, label: str) -> dict:
    try:
        message, _ = channel.receive()
    except (ConnectionClosed, OSError) as err:
        raise RankcertError(f"[{label}] the GPU trainer stopped before the trainings were done ({err}; its log is in "
                            f"{services.runtime_dir()}); run again, or set RANKCERT_TRAINER=off") from err
    return message


def _trained_model(base: SharedBase, job: Job, file: Path) -> torch.nn.Module:
    """The job's model built here as the trainer built it, with the trained weights it sent."""
    model = base.lora_model(job)
    state = load_file(str(file))
    file.unlink()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if set(state) != trainable:
        raise RankcertError(f"the GPU trainer sent {len(state)} tensors for {job.name}, not its {len(trainable)} "
                            "trainable ones; run again with RANKCERT_TRAINER=off and report it")
    model.load_state_dict(state, strict=False)
    return model
