"""The training loop and batched prediction; the recipe comes from TrainParams."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from stages.data import Encoded
from stages.params import TrainParams


@dataclass(frozen=True)
class LogRow:
    step: int
    loss: float  # mean training loss over the steps since the previous row
    lr: float


def batch_order(n_examples: int, steps: int, batch_size: int, seed: int) -> torch.Tensor:
    """[steps, batch_size] example indices: one seeded permutation per epoch, cut into batches."""
    generator = torch.Generator().manual_seed(seed)
    needed = steps * batch_size
    epochs = -(-needed // n_examples)
    order = torch.cat([torch.randperm(n_examples, generator=generator) for _ in range(epochs)])
    return order[:needed].view(steps, batch_size)


def lr_factor(step: int, steps: int, warmup_steps: int) -> float:
    """Linear warm-up to 1, then linear decay to 0 (the Hugging Face `linear` schedule)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (steps - step) / max(1, steps - warmup_steps))


def make_optimizer(model: torch.nn.Module, recipe: TrainParams, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not on biases or norms), as Trainer does."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=recipe.lr, fused=fused, foreach=None if fused else True)


def train(model: torch.nn.Module, data: Encoded, recipe: TrainParams, seed: int,
          device: torch.device, desc: str) -> list[LogRow]:
    """Train the trainable parameters of `model` for recipe.steps steps; return the loss log."""
    model.to(device).train()
    order = batch_order(len(data), recipe.steps, recipe.batch_size, seed)
    lengths = data.attention_mask.sum(dim=1)  # host copy: batch trimming needs no device sync
    tensors = {k: v.to(device) for k, v in data.as_dict().items()}
    optimizer = make_optimizer(model, recipe, device)
    warmup = int(recipe.warmup_ratio * recipe.steps + 0.5)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, recipe.steps, warmup))
    trainable = [p for p in model.parameters() if p.requires_grad]
    losses = torch.zeros(recipe.steps, device=device)
    use_bf16 = recipe.precision == "bf16"
    for step in tqdm(range(recipe.steps), desc=desc, file=sys.stderr, mininterval=2.0, leave=False):
        rows = order[step]
        width = int(lengths[rows].max())
        batch = {k: v[rows.to(device)] for k, v in tensors.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = model(input_ids=batch["input_ids"][:, :width],
                        attention_mask=batch["attention_mask"][:, :width], labels=batch["labels"])
        out.loss.backward()
        if recipe.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable, recipe.max_grad_norm, foreach=True)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses[step] = out.loss.detach()
    return loss_log(losses.cpu().tolist(), recipe, warmup)


def loss_log(losses: list[float], recipe: TrainParams, warmup: int) -> list[LogRow]:
    """One row per `log_every` steps: the window's mean loss and the lr of its last step."""
    rows = []
    for start in range(0, recipe.steps, recipe.log_every):
        window = losses[start:start + recipe.log_every]
        end = start + len(window)
        rows.append(LogRow(step=end, loss=sum(window) / len(window), lr=recipe.lr * lr_factor(end - 1, recipe.steps, warmup)))
    return rows


@torch.no_grad()
def predict(model: torch.nn.Module, data: Encoded, batch_size: int, device: torch.device) -> list[int]:
    """Predicted label of every example, in order."""
    model.to(device).eval()
    lengths = data.attention_mask.sum(dim=1)
    predictions = []
    for start in range(0, len(data), batch_size):
        stop = min(start + batch_size, len(data))
        width = int(lengths[start:stop].max())
        logits = model(input_ids=data.input_ids[start:stop, :width].to(device),
                       attention_mask=data.attention_mask[start:stop, :width].to(device)).logits
        predictions.append(logits.argmax(dim=-1).cpu())
    return torch.cat(predictions).tolist()


def fit_adapter(params, seed: int, plan_for: Callable[[list[str]], dict[str, int]],
                alpha_for: Callable[[int], float], prepared: Path, out: Path, desc: str) -> dict[str, int]:
    """Seed, build base + LoRA, train, write adapter/, train_log.csv and run.json into `out`; return the plan.

    `plan_for` maps the target module names to ranks; `alpha_for` maps a rank to its alpha.
    """
    from stages import data, modeling
    from stages.outputs import atomic_dir, write_csv, write_json
    from stages.runfacts import environment

    modeling.seed_everything(seed)  # before any weight exists: the head and LoRA init come from this seed
    device = modeling.resolve_device(params.train.device)
    train_data = data.load_encoded(prepared / "train.safetensors")
    base = modeling.load_base_model(params.model)
    plan = plan_for(modeling.target_module_names(base, params.model.target_modules))
    alphas = {module: alpha_for(rank) for module, rank in plan.items()}
    model = modeling.add_lora(base, params.model, plan, params.probe.dropout, alphas)
    started = time.perf_counter()
    log = train(model, train_data, params.train, seed, device, desc)
    seconds = time.perf_counter() - started
    with atomic_dir(out) as scratch:
        modeling.save_adapter(model, scratch / "adapter")
        write_csv(scratch / "train_log.csv", [vars(row) for row in log], ["step", "loss", "lr"])
        write_json(scratch / "run.json", {
            **environment(device), "seed": seed, "model_type": base.config.model_type, "train_seconds": round(seconds, 3),
            "ms_per_step": round(1000 * seconds / params.train.steps, 3),
            "trainable_parameters": modeling.trainable_parameters(model),
        })
    return plan
