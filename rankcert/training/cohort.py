"""Trainings in flight together: each one's next step launched in turn from one thread, trainings joining and
leaving at any step. On CUDA each step is a captured graph replayed on the training's own stream, so many
adapters (one seed's, in cotrain.fit_all, or many seeds', in the GPU trainer) keep one GPU busy at once.

A training's result never depends on the others in flight: its LoRA factors start from the random state right
after its seed's base model was made, and its dropout draws from a generator state of its own, seeded as it
would be alone (on CUDA the captured graph registers it; on the CPU it is swapped in around each step).
"""
from __future__ import annotations

import gc
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from rankcert.inputs.data import Encoded
from rankcert.runtime.errors import RankcertError
from rankcert.training.base import Job, SharedBase
from rankcert.training.loop import EagerStep, GraphedStep, batch_order, lr_schedule

MEMORY_HEADROOM = 0.85  # of the free GPU memory, for admitting one more training
LOOKAHEAD = 64  # steps a training may be launched ahead of those known finished (bounds the launch queue)
MARK_EVERY = 16  # steps between the events that tell how far a training has come


@dataclass
class Flight:
    """One training in flight; `owner` is whoever asked for it (a client of the GPU trainer, or None)."""

    owner: object
    job: Job
    model: torch.nn.Module
    step: GraphedStep | EagerStep | None
    lrs: list[float]
    losses: torch.Tensor
    rng: torch.Tensor | None  # the CPU generator state between this training's steps (None on CUDA)
    threads: int | None  # torch's CPU threads for its steps (runtime.cpu_threads), None: leave as is
    launched: int = 0
    finished: int = 0  # steps known to have run on the device
    marks: deque = field(default_factory=deque)  # (step, CUDA event recorded after it)
    started: float = field(default_factory=time.perf_counter)
    together: int = 1  # most trainings in flight beside it, itself included

    @property
    def steps(self) -> int:
        return len(self.lrs)

    def seconds(self) -> float:
        return time.perf_counter() - self.started


def build_flight(owner: object, base: SharedBase, job: Job, data: Encoded, device: torch.device) -> Flight:
    """`job` of `base`'s seed, ready to step: captured as a CUDA graph on a CUDA device, eager on the CPU."""
    recipe, seed = base.recipe.train, base.seed
    order = batch_order(len(data), recipe.steps, recipe.batch_size, seed)
    _, lrs = lr_schedule(recipe)
    if device.type == "cpu":
        model = base.lora_model(job).to(device).train()
        step = EagerStep(model, data, order, recipe, device)
        threads = base.recipe.runtime.cpu_threads
        return Flight(owner, job, model, step, lrs, torch.zeros(recipe.steps), torch.get_rng_state(), threads)
    torch.cuda.init()  # the default generators exist once CUDA is initialised
    generator = torch.cuda.default_generators[torch.cuda.current_device()]
    default_state = generator.graphsafe_get_state()
    losses = torch.zeros(recipe.steps, device=device)  # before the step: its stream waits for this zero fill
    try:
        model = base.lora_model(job).to(device).train()
        # its own generator state, seeded as it would be alone: the warm-up draws from it and the captured graph
        # registers it, so each replay advances this training's offset and no other's
        generator.graphsafe_set_state(generator.clone_state().manual_seed(seed))
        step = GraphedStep(model, data, order, recipe, device)  # captured on a stream of its own
    finally:
        generator.graphsafe_set_state(default_state)
    return Flight(owner, job, model, step, lrs, losses, None, None)


class Cohort:
    """The trainings in flight on one device, at most `cap` at once (0: as many as fit in GPU memory)."""

    def __init__(self, device: torch.device, cap: int = 0, label: str = "trainer"):
        self.device, self.cap, self.label = device, cap, label
        self.flights: list[Flight] = []
        self.footprint = 0  # GPU bytes the largest training took when it was admitted
        self.short_of_memory = False  # a build ran out of memory: no more until a training ends
        self.launched = 0  # steps the last tick launched (none: every training is waiting for the device)

    def __len__(self) -> int:
        return len(self.flights)

    def has_room(self) -> bool:
        """Whether one more training may be built now (the cap, and on CUDA the free memory)."""
        if self.short_of_memory or (self.cap and len(self.flights) >= self.cap):
            return False
        if self.device.type != "cuda" or not self.flights or not self.footprint:
            return True
        free = torch.cuda.mem_get_info(self.device)[0]
        return free * MEMORY_HEADROOM >= self.footprint

    def admit(self, build: Callable[[], Flight]) -> bool:
        """Build a training and put it in flight; False if it must wait for memory (it ran out, and others are in
        flight whose end will free some). Out of memory with nothing else in flight is an error."""
        if not self.has_room():
            return False
        free_before = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else 0
        try:
            flight = build()
        except torch.cuda.OutOfMemoryError as err:
            free_memory(self.device)
            if not self.flights:
                raise RankcertError(f"[{self.label}] a training runs out of GPU memory even alone; lower "
                                    "train.batch_size or model.max_length, or use a larger GPU") from err
            print(f"[{self.label}] out of GPU memory with {len(self.flights)} trainings in flight; the next waits "
                  "for one to end", file=sys.stderr, flush=True)
            self.short_of_memory = True
            return False
        if self.device.type == "cuda":
            self.footprint = max(self.footprint, free_before - torch.cuda.mem_get_info(self.device)[0])
        self.flights.append(flight)
        for each in self.flights:
            each.together = max(each.together, len(self.flights))
        return True

    def tick(self) -> list[Flight]:
        """Launch the next step of every training not too far ahead; return the trainings that have finished."""
        self.launched = 0
        for flight in self.flights:
            self._note_progress(flight)
            if flight.launched < flight.steps and flight.launched - flight.finished < LOOKAHEAD:
                self._launch(flight)
                self.launched += 1
        done = [f for f in self.flights if f.finished == f.steps]
        self.short_of_memory = self.short_of_memory and not done
        for flight in done:
            self.flights.remove(flight)
            flight.step = None  # its graph, optimizer and copies of the data: freed once the caller drops it
        return done

    def drop(self, owner: object) -> None:
        """Stop the trainings of `owner` (a client that went away)."""
        for flight in [f for f in self.flights if f.owner is owner]:
            if self.device.type == "cuda":  # replays still queued must end before their graph's memory is reused
                flight.step.stream.synchronize()
            self.flights.remove(flight)
        free_memory(self.device)

    def _launch(self, flight: Flight) -> None:
        i = flight.launched
        if self.device.type == "cuda":
            with torch.cuda.stream(flight.step.stream):
                flight.losses[i] = flight.step(i, flight.lrs[i])
                if (i + 1) % MARK_EVERY == 0 or i + 1 == flight.steps:
                    event = torch.cuda.Event()
                    event.record()
                    flight.marks.append((i + 1, event))
        else:
            if flight.threads is not None:
                torch.set_num_threads(flight.threads)
            torch.set_rng_state(flight.rng)
            flight.losses[i] = flight.step(i, flight.lrs[i])
            flight.rng = torch.get_rng_state()
            flight.finished = i + 1
        flight.launched = i + 1

    @staticmethod
    def _note_progress(flight: Flight) -> None:
        while flight.marks and flight.marks[0][1].query():
            flight.finished = flight.marks.popleft()[0]


def losses_of(flight: Flight) -> list[float]:
    """The training's per-step losses, read once it has finished."""
    return flight.losses.cpu().tolist()  # its last event has completed: every step's loss is written


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
