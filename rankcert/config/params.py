"""Typed parameters, read from params.yaml: one dataclass per section, each checking its own fields as it is
built (as PEFT's configs do); Params checks what spans sections. A new parameter is a field and its check here,
and its value in params.yaml; dvc.yaml lists whole sections for the stages that read all of one."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rankcert.config import codec
from rankcert.config.variants import Variant
from rankcert.runtime import device
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.yamlfile import read_yaml

MAX_RESAMPLES = 1_000_000


@dataclass(frozen=True)
class ModelParams:
    name: str
    target_modules: list[str]
    head_modules: list[str]
    num_labels: int
    max_length: int
    revision: str = "main"  # for a hub id: the commit (or branch) to load; ignored for a local folder

    def __post_init__(self):
        _require(self.target_modules, "model.target_modules must name at least one module")
        _require(self.num_labels >= 2, "model.num_labels must be at least 2")
        _require(self.max_length >= 8, "model.max_length must be at least 8")


@dataclass(frozen=True)
class DataParams:
    source: str
    config: str
    train_split: str
    eval_split: str
    train_size: int
    eval_size: int | Literal["all"]  # the first rows of eval_split; all: the whole split
    revision: str = "main"  # for a hub dataset: the commit (or branch) to load; ignored for a local folder

    def __post_init__(self):
        _require(self.train_size > 0 and (self.eval_size == "all" or self.eval_size > 0),
                 "data.train_size and data.eval_size must be > 0 (eval_size may be all)")

    @property
    def eval_rows(self) -> int | None:
        """How many eval rows to take (None: the whole split)."""
        return None if self.eval_size == "all" else self.eval_size


@dataclass(frozen=True)
class TrainParams:
    """The training recipe, the same for the probe and every retrained variant."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_ratio: float
    max_grad_norm: float
    log_every: int
    precision: Literal["fp32", "bf16"]  # fp32 certifies; bf16 is autocast

    def __post_init__(self):
        _require(self.steps > 0, "train.steps must be > 0")
        _require(self.batch_size > 0, "train.batch_size must be > 0")
        _require(self.lr > 0, "train.lr must be > 0")
        _require(self.weight_decay >= 0, "train.weight_decay must be >= 0")
        _require(0 <= self.warmup_ratio < 1, "train.warmup_ratio must be in [0, 1)")
        _require(self.max_grad_norm >= 0, "train.max_grad_norm must be >= 0 (0 turns clipping off)")
        _require(self.log_every > 0, "train.log_every must be > 0")


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int  # examples per forward pass; predictions don't depend on it

    def __post_init__(self):
        _require(self.batch_size > 0, "evaluate.batch_size must be > 0")


@dataclass(frozen=True)
class RuntimeParams:
    """Where and how the work runs."""

    device: str  # auto | cpu | cuda | cuda:<index> (pins one GPU; the others are leased as free)
    cuda_graphs: bool  # on CUDA, capture the whole training step once and replay it
    # torch threads on the CPU; None: torch's own choice, one per core. CPU bytes depend on it (run.json names it),
    # so pinning it makes a CPU run's bytes the same on any machine.
    cpu_threads: int | None = None

    def __post_init__(self):
        _require(self.cpu_threads is None or self.cpu_threads >= 1,
                 f"runtime.cpu_threads must be null or a whole number of at least 1, not {self.cpu_threads}")
        if (problem := device.spelling_problem(self.device)) is not None:
            raise RankcertError(problem)


@dataclass(frozen=True)
class ProbeParams:
    """The probe: trained here at `rank`/`alpha`, or, with `adapter`, a user's PEFT LoRA adapter folder imported in
    its place (rankcert.training.imported); `rank` and `alpha` then state the adapter's, and `dropout` is the recipe's."""

    rank: int
    alpha: float
    dropout: float
    adapter: str | None = None  # a local PEFT LoRA adapter folder to certify cuts of (listed in `inputs`)

    def __post_init__(self):
        _require(self.rank > 0, "probe.rank must be > 0")
        _require(self.alpha > 0, "probe.alpha must be > 0")
        _require(0 <= self.dropout < 1, "probe.dropout must be in [0, 1)")


@dataclass(frozen=True)
class CompressParams:
    energy_threshold: float
    allowed_ranks: list[int]

    def __post_init__(self):
        _require(0 < self.energy_threshold <= 1,
                 f"compress.energy_threshold must be in (0, 1], not {self.energy_threshold}")
        _require(self.allowed_ranks, "compress.allowed_ranks must list at least one rank")
        _require(all(r > 0 for r in self.allowed_ranks), f"compress.allowed_ranks must be > 0: {self.allowed_ranks}")
        _require(self.allowed_ranks == sorted(set(self.allowed_ranks)),
                 f"compress.allowed_ranks must be sorted and without duplicates: {self.allowed_ranks}")


@dataclass(frozen=True)
class CertifiableLevel:
    min_seeds: int
    min_steps: int
    min_train_size: int
    min_eval_size: int


@dataclass(frozen=True)
class PopulationParams:
    """The population verdict (rankcert.certification.population): with confidence certify.confidence, at least `share` of
    training runs have Δ ≥ −tolerance; read at the seed counts `looks`, the error spent along them by `spending` (a
    spending function of the share of the last look's seeds read: pocock, linear, quadratic, obrien-fleming)."""

    share: float
    looks: list[int]
    spending: Literal["pocock", "linear", "quadratic", "obrien-fleming"]

    def __post_init__(self):
        _require(0.5 <= self.share < 1, f"certify.population.share must be in [0.5, 1), not {self.share}")
        _require(self.looks and all(k >= 2 for k in self.looks) and self.looks == sorted(set(self.looks)),
                 f"certify.population.looks must be seed counts >= 2, increasing: {self.looks}")
        _require(self.looks[-1] <= 200, f"certify.population.looks must stop by 200 seeds: {self.looks}")


@dataclass(frozen=True)
class CertifyParams:
    tolerance: float
    min_pass_rate: float
    probe_min_accuracy: float
    bootstrap_resamples: int
    bootstrap_seed: int
    confidence: float
    policy: str
    certifiable: CertifiableLevel
    population: PopulationParams

    def __post_init__(self):
        _require(0 < self.tolerance < 1, f"certify.tolerance must be in (0, 1), not {self.tolerance}")
        _require(0 < self.min_pass_rate <= 1, f"certify.min_pass_rate must be in (0, 1], not {self.min_pass_rate}")
        _require(0 <= self.probe_min_accuracy <= 1, "certify.probe_min_accuracy must be in [0, 1]")
        _require(1000 <= self.bootstrap_resamples <= MAX_RESAMPLES, f"certify.bootstrap_resamples must be in "
                 f"1000..{MAX_RESAMPLES:,} (each resample holds memory per seed)")
        _require(0 < self.confidence < 1, f"certify.confidence must be in (0, 1), not {self.confidence}")


@dataclass(frozen=True)
class ReleaseParams:
    max_worst_delta_drop: float

    def __post_init__(self):
        _require(self.max_worst_delta_drop >= 0, "release.max_worst_delta_drop must be >= 0")


@dataclass(frozen=True)
class SettleParams:
    """`make settle` (rankcert.tools.settle): the seeds it adds after `seeds` are next_seed, next_seed + 1, ..."""

    next_seed: int

    def __post_init__(self):
        _require(0 <= self.next_seed < 2**32 - 1000, "settle.next_seed must be in 0..2**32 - 1001")


@dataclass(frozen=True)
class Params:
    model: ModelParams
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    runtime: RuntimeParams
    probe: ProbeParams
    seeds: list[int]
    compress: CompressParams
    variants: list[Variant]
    certify: CertifyParams
    release: ReleaseParams
    settle: SettleParams
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)  # local folders DVC tracks (stage track)

    def __post_init__(self):
        """What spans sections (each section checked its own fields as it was built)."""
        _require(self.train.batch_size <= self.data.train_size,
                 f"train.batch_size {self.train.batch_size} is larger than data.train_size {self.data.train_size}")
        _require(all(re.fullmatch(r"[A-Za-z0-9_-]+", key) for key in self.inputs),
                 f"inputs keys name stages and files: use letters, digits, _ and -, not {sorted(self.inputs)}")
        _require(self.seeds, "seeds must list at least one seed")
        _require(len(set(self.seeds)) == len(self.seeds), f"seeds has duplicates: {self.seeds}")
        _require(self.probe.adapter is None or len(self.seeds) == 1,
                 f"seeds lists {len(self.seeds)} seeds but probe.adapter imports one adapter: list one seed (it seeds "
                 "the retrained variants and draws their training data); more would judge the same adapter again "
                 "and count it as independent training runs")
        _require(all(0 <= s < 2**32 for s in self.seeds), f"seeds must be in 0..{2**32 - 1} (numpy and torch seeds)")
        looks = self.certify.population.looks
        _require(len(self.seeds) <= looks[-1], f"{len(self.seeds)} seeds go beyond certify.population.looks' last "
                 f"look {looks[-1]}: add a look (the population verdict's error is split over the declared looks)")
        ranks = self.compress.allowed_ranks
        _require(max(ranks) <= self.probe.rank, f"compress.allowed_ranks {ranks} go above probe.rank {self.probe.rank}")
        _require(self.variants, "variants must list at least one variant")
        _require(len(set(self.variant_names)) == len(self.variants), f"variants has duplicates: {self.variant_names}")
        for v in self.variants:
            problem = v.problem(self.probe.rank)
            _require(problem is None, f"variant {v.name}: {problem}")

    def settle_sequence(self, count: int) -> list[int]:
        """The first `count` seeds of the declared sequence: `seeds`, then settle.next_seed, next_seed + 1, ...
        (skipping any already listed), so a run grown along it declares the same sequence."""
        extra = [self.settle.next_seed + i for i in range(count) if self.settle.next_seed + i not in self.seeds]
        return (list(self.seeds) + extra)[:count]

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate params.yaml; raise RankcertError naming the first bad key."""
    return params_from_dict(read_params_yaml(path))


def read_params_yaml(path: str | Path = "params.yaml") -> Any:
    """params.yaml as parsed YAML, not yet validated (what DVC reads its `params:` values from)."""
    return read_yaml(path, "params file", "run from the project root or pass --params")


def params_from_dict(raw: Any) -> Params:
    return codec.load(Params, raw)


def _require(ok: Any, message: str) -> None:
    if not ok:
        raise RankcertError(message)
