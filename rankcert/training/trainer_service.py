"""The GPU trainer: one process per GPU that trains the adapters of every stage that asks, all in one cohort.

    python -m rankcert.training.trainer_service --key KEY     # started by the first stage that needs it

Seeds' stages run in processes of their own (DVC runs them); kernels of different processes take turns on a GPU,
while graphs replayed on streams of one process run side by side. So a stage that trains on a GPU
(rankcert.training.trainer_client) sends its jobs here; they join the trainings in flight (rankcert.training.cohort)
and each adapter's trained weights go back as a file, with its losses. The bytes are those the stage would make
alone. The trainer's key covers the Python environment, the GPU and every file of rankcert (it keeps the code it
imported): an edit starts a new trainer. It exits after RANKCERT_WORKER_IDLE seconds without work.
"""
from __future__ import annotations

import argparse
import os
import select
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from safetensors.torch import save_file

from rankcert.config import codec
from rankcert.inputs.data import Encoded, load_encoded
from rankcert.runtime import services, settings
from rankcert.runtime.channel import Channel, ConnectionClosed
from rankcert.runtime.errors import RankcertError
from rankcert.training.base import Job, Recipe, SharedBase
from rankcert.training.cohort import Cohort, Flight, build_flight, free_memory, losses_of

IDLE_S = 120.0
PROGRESS_EVERY = 50  # steps between the progress messages a client's bars show
RANKCERT = Path(__file__).resolve().parent.parent


def trainer_key(env: dict[str, str], device: str) -> str:
    """Which trainer a stage in `env` may use for `device` (cuda or cpu): the environment, the GPU it leased
    (CUDA_VISIBLE_DEVICES) and rankcert's code."""
    code = sorted(RANKCERT.rglob("*.py"))
    return services.environment_key(env, code, f"{device}:{env.get('CUDA_VISIBLE_DEVICES', '')}")


def trainer_paths(key: str) -> services.ServicePaths:
    return services.service_paths("t", key)


@dataclass(frozen=True)
class TrainRequest:
    """What a stage sends: its label ("compress@42"), the seed, the recipe, the jobs, the prepared training data
    file (the trainer reads it itself) and the folder each trained adapter's weights go to."""

    label: str
    seed: int
    recipe: Recipe
    jobs: list[Job]
    data: str
    out: str


@dataclass(eq=False)
class Client:
    """A stage's request: its seed's base model and data, where its results go, and how far each job has come."""

    channel: Channel
    label: str
    base: SharedBase
    data: Encoded
    out: Path
    waiting: int
    reported: dict[str, int] = field(default_factory=dict)


class Trainer:
    def __init__(self, listener: socket.socket, device: torch.device, idle_s: float):
        self.listener, self.device, self.idle_s = listener, device, idle_s
        self.cohort = Cohort(device, settings.concurrent_trainings(), "trainer")
        self.clients: dict[socket.socket, Client] = {}
        self.queue: deque[tuple[Client, Job]] = deque()
        self.last_active = time.monotonic()
        self.stopping = False
        self.unbind = lambda: None  # set by serve: remove the socket, so the next stage starts a fresh trainer

    def retire(self) -> None:
        """Take no new trainings; finish those accepted, then exit."""
        self.stopping = True
        self.unbind()

    def loop(self) -> None:
        while self.cohort or self.queue or self.clients or (
                not self.stopping and time.monotonic() - self.last_active < self.idle_s):
            timeout = (0.0 if self.cohort.launched else 0.0005) if self.cohort else 1.0
            listening = [] if self.stopping else [self.listener]
            ready, _, _ = select.select([*listening, *self.clients], [], [], timeout)
            for sock in ready:
                if sock is self.listener:
                    self.accept()
                else:
                    self.drop(self.clients[sock], "went away")
            self.admit()
            for flight in self.cohort.tick():
                self.deliver(flight)
            self.report_progress()
            if self.cohort or self.queue:
                self.last_active = time.monotonic()
        log("stopped: exiting" if self.stopping else f"idle for {self.idle_s:.0f} s: exiting")

    def accept(self) -> None:
        sock, _ = self.listener.accept()
        channel = Channel(sock)
        try:
            request, _ = channel.receive()
            if request.get("op") in ("ping", "stop"):
                channel.send({"pid": os.getpid(), "in_flight": len(self.cohort), "waiting": len(self.queue)})
                channel.close()
                if request["op"] == "stop":
                    self.retire()
                return
            wanted = codec.load(TrainRequest, request.get("train"), "train")
            client = self.open(channel, wanted)
        except (RankcertError, OSError, ValueError, ConnectionClosed) as err:
            self.refuse(channel, err)
            return
        self.clients[sock] = client
        self.queue.extend((client, job) for job in wanted.jobs)
        log(f"{client.label}: {len(wanted.jobs)} training(s) queued ({len(self.cohort)} in flight)")

    def open(self, channel: Channel, wanted: TrainRequest) -> Client:
        base = SharedBase(wanted.recipe, wanted.seed)
        data = load_encoded(wanted.data, wanted.recipe.model.name)
        return Client(channel, wanted.label, base, data, Path(wanted.out), len(wanted.jobs))

    def admit(self) -> None:
        while self.queue:
            client, job = self.queue[0]
            try:
                if not self.cohort.admit(partial(build_flight, client, client.base, job, client.data, self.device)):
                    return
            except Exception as err:  # noqa: BLE001 - one stage's bad job must not stop the others' trainings
                self.queue.popleft()
                self.refuse(client.channel, err)
                self.drop(client, "refused")
                continue
            self.queue.popleft()

    def deliver(self, flight: Flight) -> None:
        client: Client = flight.owner
        if client.channel.sock not in self.clients:
            return
        path = client.out / f"{flight.job.name}.safetensors"
        state = {name: p.detach().cpu().contiguous() for name, p in flight.model.named_parameters() if p.requires_grad}
        save_file(state, str(path.with_suffix(".part")))
        os.replace(path.with_suffix(".part"), path)
        message = {"event": "trained", "job": flight.job.name, "file": str(path), "losses": losses_of(flight),
                   "seconds": flight.seconds(), "together": flight.together}
        self.send(client, message)
        client.waiting -= 1
        if client.waiting == 0:
            self.close(client)
        if len(self.cohort) == 0:
            free_memory(self.device)

    def report_progress(self) -> None:
        for flight in self.cohort.flights:
            client: Client = flight.owner
            if flight.finished - client.reported.get(flight.job.name, 0) >= PROGRESS_EVERY:
                client.reported[flight.job.name] = flight.finished
                self.send(client, {"event": "progress", "job": flight.job.name, "step": flight.finished})

    def send(self, client: Client, message: dict) -> None:
        try:
            client.channel.send(message)
        except OSError:
            self.drop(client, "went away")

    def refuse(self, channel: Channel, err: Exception) -> None:
        text = str(err) if isinstance(err, RankcertError) else f"{type(err).__name__}: {err}"
        log(f"refused a request: {text}")
        try:
            channel.send({"event": "error", "message": text})
        except OSError:
            pass

    def drop(self, client: Client, why: str) -> None:
        """Forget a client (it went away, or its request failed): its queued jobs and trainings in flight too."""
        if client.channel.sock in self.clients:
            log(f"{client.label}: {why}; its trainings are dropped")
        self.queue = deque((c, j) for c, j in self.queue if c is not client)
        self.cohort.drop(client)
        self.close(client)

    def close(self, client: Client) -> None:
        self.clients.pop(client.channel.sock, None)
        client.channel.close()


def serve(key: str, device_type: str) -> None:
    """Bind, then train what stages send on `device_type` (cuda or cpu) until idle."""
    paths = trainer_paths(key)
    listener, bound = services.listen(paths.socket)
    device = torch.device(device_type)
    trainer = Trainer(listener, device, settings.worker_idle_s(IDLE_S))
    trainer.unbind = lambda: services.remove_socket(paths.socket, bound)
    log(f"ready on {device} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
    try:
        trainer.loop()
    finally:
        services.remove_socket(paths.socket, bound)


def log(message: str) -> None:
    services.log("trainer", message)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", required=True)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = parser.parse_args()
    serve(args.key, args.device)
