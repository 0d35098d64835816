"""Training steps and the eager loop; the recipe comes from TrainParams.

`train` is the eager loop (on the CPU, and on CUDA with runtime.cuda_graphs off). `GraphedStep` is the whole
step captured as one CUDA graph: rankcert.training.cohort replays many of them at once, the one graphed CUDA path.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
from tqdm import tqdm

from rankcert.config.params import TrainParams
from rankcert.inputs.data import Encoded
from rankcert.runtime.errors import RankcertError
from rankcert.training.checkpoint import Checkpoint


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


def lr_schedule(recipe: TrainParams) -> tuple[int, list[float]]:
    """(warm-up steps, the lr of every step) for the recipe."""
    warmup = math.ceil(recipe.warmup_ratio * recipe.steps)
    return warmup, [recipe.lr * lr_factor(s, recipe.steps, warmup) for s in range(recipe.steps)]


def make_optimizer(model: torch.nn.Module, recipe: TrainParams, device: torch.device,
                   capturable: bool = False) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not on biases or norms), as Trainer does.

    With `capturable`, lr is a device tensor so a CUDA graph can replay the step with a new lr.
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)
    lr = torch.tensor(recipe.lr, device=device) if capturable else recipe.lr
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if device.type == "cuda":
        return torch.optim.AdamW(groups, lr=lr, fused=True, capturable=capturable)
    return torch.optim.AdamW(groups, lr=lr, foreach=True)


def train(model: torch.nn.Module, data: Encoded, recipe: TrainParams, seed: int, device: torch.device,
          desc: str, checkpoint: Checkpoint | None = None) -> list[LogRow]:
    """Train the trainable parameters of `model` for recipe.steps eager steps; return the loss log.

    With a `checkpoint`, state is saved every few steps and a rerun resumes from it.
    """
    model.to(device).train()
    order = batch_order(len(data), recipe.steps, recipe.batch_size, seed)
    warmup, lrs = lr_schedule(recipe)
    step = EagerStep(model, data, order, recipe, device)
    losses = torch.zeros(recipe.steps, device=device)  # filled on the device: no per-step host sync
    start = checkpoint.resume(model, step.optimizer, losses) if checkpoint else 0
    for i in tqdm(range(start, recipe.steps), desc=desc, file=sys.stderr, mininterval=2.0, leave=False,
                  initial=start, total=recipe.steps):
        losses[i] = step(i, lrs[i])
        if checkpoint and checkpoint.due(i + 1, recipe.steps):
            checkpoint.save(i + 1, model, step.optimizer, losses)
    if checkpoint:
        checkpoint.clear()
    return loss_log(losses.cpu().tolist(), recipe, warmup)


class EagerStep:
    """One optimizer step per call; each batch is trimmed to its longest example (dynamic padding)."""

    def __init__(self, model, data: Encoded, order: torch.Tensor, recipe: TrainParams, device: torch.device):
        self.model, self.order, self.recipe, self.device = model, order, recipe, device
        self.lengths = torch.from_numpy(data.attention_mask.sum(axis=1))  # on the host: trimming needs no sync
        self.tensors = on_device(data, device)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(model, recipe, device)

    def __call__(self, i: int, lr: float) -> torch.Tensor:
        rows = self.order[i]
        width = int(self.lengths[rows].max())
        index = rows.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = step_body(self.model, self.tensors, index, width, self.recipe, self.trainable, self.optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        return loss


class GraphedStep:
    """The whole step (forward, backward, clipping, AdamW) captured once as a CUDA graph and replayed.

    Batches are padded to the longest training example so every step has the same shapes.
    """

    WARMUP = 3

    def __init__(self, model, data: Encoded, order: torch.Tensor, recipe: TrainParams, device: torch.device,
                 stream: torch.cuda.Stream | None = None):
        # Warm-up and capture run on a stream of this step's own: cuBLAS keeps one workspace per stream and a
        # graph keeps the one it was captured with, so graphs replayed at once must not share a capture stream.
        self.stream = stream or torch.cuda.Stream(device)
        self.tensors = on_device(data, device)
        self.order = order.to(device)  # on the device, so choosing a batch needs no host copy
        width = int(data.attention_mask.sum(axis=1).max())
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(model, recipe, device, capturable=True)
        self.lr = self.optimizer.param_groups[0]["lr"]
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr  # one device tensor drives every group
        self.rows = torch.zeros(recipe.batch_size, dtype=torch.long, device=device)

        # No zero_grad inside the graph: gradients are None when it is captured, so the captured backward
        # *writes* each .grad buffer (it doesn't accumulate), and every replay overwrites them.
        def body() -> torch.Tensor:
            return step_body(model, self.tensors, self.rows, width, recipe, trainable, self.optimizer)

        # Warm-up steps on a side stream are required before capture; they must not change the training,
        # so the trainable weights and the optimizer state are put back exactly afterwards.
        saved = [p.detach().clone() for p in trainable]
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            for _ in range(self.WARMUP):
                self.optimizer.zero_grad(set_to_none=True)
                body()
        torch.cuda.current_stream().wait_stream(self.stream)
        with torch.no_grad():
            for param, value in zip(trainable, saved):
                param.copy_(value)
            for state in self.optimizer.state.values():
                for value in state.values():
                    value.zero_()
        self.optimizer.zero_grad(set_to_none=True)
        # capture_begin, not `with torch.cuda.graph`: that context synchronises the device and collects garbage
        # first, which would stall every training already replaying beside this one (rankcert.training.cohort)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(self.stream):
            self.graph.capture_begin()
            try:
                self.loss = body()
            finally:
                self.graph.capture_end()
        # the first replay must follow the restored weights and the copies above, made on the current stream
        self.stream.wait_stream(torch.cuda.current_stream())

    def __call__(self, i: int, lr: float) -> torch.Tensor:
        self.rows.copy_(self.order[i])
        self.lr.fill_(lr)
        self.graph.replay()
        return self.loss


def step_body(model, tensors: dict[str, torch.Tensor], rows: torch.Tensor, width: int, recipe: TrainParams,
              trainable: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """One optimizer step on batch `rows`: forward, backward, clipping, AdamW. The same in both loops."""
    loss = forward_backward(model, tensors, rows, width, recipe)
    if recipe.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(trainable, recipe.max_grad_norm, foreach=True)
    optimizer.step()
    return loss


def on_device(data: Encoded, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(device) for k, v in data.as_dict().items()}


def forward_backward(model, tensors: dict[str, torch.Tensor], rows: torch.Tensor, width: int,
                     recipe: TrainParams) -> torch.Tensor:
    """Loss of the batch `rows` (trimmed to `width` tokens), with gradients accumulated."""
    ids = tensors["input_ids"].index_select(0, rows)[:, :width]
    mask = tensors["attention_mask"].index_select(0, rows)[:, :width]
    labels = tensors["labels"].index_select(0, rows)
    with torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bf16"):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    return loss.detach()


def check_finite(name: str, losses: list[float], every: int, label: str) -> None:
    """Refuse a training whose loss went to inf or nan (`losses` one value per `every` steps)."""
    bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
    if bad is not None:
        raise RankcertError(f"[{label}] {name} diverged: its training loss is {losses[bad]} by step "
                            f"{(bad + 1) * every}; lower train.lr (the stage keeps its previous outputs)")


def checked_log(name: str, losses: list[float], recipe: TrainParams, label: str) -> list[LogRow]:
    """A training's per-step losses, refused if any is not finite, as its train_log rows."""
    check_finite(name, losses, 1, label)
    warmup, _ = lr_schedule(recipe)
    return loss_log(losses, recipe, warmup)


def loss_log(losses: list[float], recipe: TrainParams, warmup: int) -> list[LogRow]:
    """One row per `log_every` steps: the window's mean loss and the lr of its last step."""
    rows = []
    for start in range(0, recipe.steps, recipe.log_every):
        window = losses[start:start + recipe.log_every]
        end = start + len(window)
        rows.append(LogRow(step=end, loss=sum(window) / len(window), lr=recipe.lr * lr_factor(end - 1, recipe.steps, warmup)))
    return rows
