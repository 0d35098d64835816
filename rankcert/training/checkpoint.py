"""Resumable training state: a long CPU training can continue where a killed run stopped, bit for bit.

Asked for with RANKCERT_CHECKPOINT_EVERY=<steps> (rankcert.runtime.settings); it changes no result, so it is not a DVC parameter.
The state lives in .rankcert-tmp/checkpoints/, outside every DVC output, and is removed once training ends.
"""
from __future__ import annotations

import hashlib
import json
import shutil

import torch
from safetensors.torch import load_file, save_file

from rankcert.runtime.outputs import SCRATCH, atomic_dir, write_json


def run_key(*parts: object) -> str:
    """Identity of a training run: a checkpoint is only resumed by the exact same run."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Checkpoint:
    def __init__(self, name: str, key: str, every: int):
        self.folder = SCRATCH / "checkpoints" / f"{name}-{key}"
        self.key, self.every = key, every

    def due(self, done_steps: int, total: int) -> bool:
        return self.every > 0 and done_steps % self.every == 0 and done_steps < total

    def save(self, done_steps: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             losses: torch.Tensor) -> None:
        tensors = {"losses": losses[:done_steps].detach().cpu().clone(), "rng": torch.get_rng_state()}
        for name, param in _trainable(model):
            tensors[f"param/{name}"] = param.detach().cpu().clone()
            for field, value in optimizer.state.get(param, {}).items():
                tensors[f"state/{field}/{name}"] = value.detach().cpu().clone().reshape(-1)
        with atomic_dir(self.folder) as scratch:
            save_file(tensors, str(scratch / "state.safetensors"))
            write_json(scratch / "meta.json", {"key": self.key, "done_steps": done_steps})

    def resume(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, losses: torch.Tensor) -> int:
        """Load the saved state into `model`, `optimizer` and `losses`; return the steps already done (0 if none)."""
        meta_path = self.folder / "meta.json"
        if not meta_path.is_file():
            return 0
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != self.key:
            return 0
        tensors = load_file(str(self.folder / "state.safetensors"))
        with torch.no_grad():
            for name, param in _trainable(model):
                param.copy_(tensors[f"param/{name}"])
                fields = {k.split("/")[1]: v for k, v in tensors.items()
                          if k.startswith("state/") and k.endswith(f"/{name}")}
                if fields:
                    optimizer.state[param] = {f: (v.reshape(param.shape) if v.numel() == param.numel() else
                                                  v.reshape(())).to(param.device) for f, v in fields.items()}
        done = int(meta["done_steps"])
        losses[:done] = tensors["losses"].to(losses.device)
        torch.set_rng_state(tensors["rng"])
        print(f"resuming from checkpoint at step {done}", flush=True)
        return done

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _trainable(model: torch.nn.Module):
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]
