"""Model building: base model (encoder or decoder), LoRA adapters from a rank plan, shape checks, parameter
counts."""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from rankcert.config.params import ModelParams
from rankcert.inputs.padding import PadToken, configure_model, pad_token
from rankcert.inputs.sources import hub_error, hub_revision
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS


def seed_everything(seed: int) -> None:
    """Seed every generator and ask for deterministic kernels; call before any weight exists."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=False)
    torch.backends.cudnn.benchmark = False


def load_base_model(params: ModelParams, pad: PadToken | None = None):
    """The model with a fresh classification head, told which token pads (`pad`; by default the tokenizer's,
    as prepare pads); seed first, the head is initialised here."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    revision = hub_revision(params.name, params.revision, "model.name", "saved model folder")
    hf_logging.set_verbosity_error()  # the "newly initialised head" report is expected here
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            params.name, num_labels=params.num_labels, revision=revision, use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError) as err:
        raise hub_error(params.name, err) from err
    configure_model(model, pad or pad_token(params.name, params.revision))
    return model


def frozen_copy(base: torch.nn.Module) -> torch.nn.Module:
    """A copy of `base` that shares its weights and buffers: several adapters wrap the one frozen base in memory.

    LoRA leaves the base weights untouched and PEFT copies the head it trains, so sharing is safe; moving one
    copy to a device moves the shared weights once.
    """
    shared = {id(t): t for t in (*base.parameters(), *base.buffers())}
    return copy.deepcopy(base, shared)


def projection_types() -> tuple[type, ...]:
    """The layers LoRA targets here: torch's Linear and transformers' Conv1D (GPT-2's, weight stored [in, out])."""
    from transformers.pytorch_utils import Conv1D

    return torch.nn.Linear, Conv1D


def target_module_names(model: torch.nn.Module, targets: list[str]) -> list[str]:
    """Names of the Linear (or Conv1D) modules matched by `targets`, in model order; error listing real names if
    none."""
    names = [name for name, module in model.named_modules() if isinstance(module, projection_types())]
    matched = [n for n in names if any(n == t or n.endswith("." + t) for t in targets)]
    unmatched = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if unmatched:
        leaves = sorted({n.split(".")[-1] for n in names} | {".".join(n.split(".")[-3:]) for n in names})
        raise RankcertError(
            f"model.target_modules {unmatched} match no Linear or Conv1D module; names that exist include: "
            + ", ".join(leaves[:40])
        )
    return matched


def check_head_modules(model: torch.nn.Module, heads: list[str]) -> None:
    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    missing = [h for h in heads if h not in names]
    if missing:
        raise RankcertError(f"model.head_modules {missing} are not modules of this model")


def add_lora(model: torch.nn.Module, params: ModelParams, plan: dict[str, int], dropout: float,
             alphas: dict[str, float] | None = None):
    """Wrap `model` with LoRA at exactly the ranks in `plan` (module name -> rank); alpha = rank unless given."""
    from peft import LoraConfig, get_peft_model

    check_head_modules(model, params.head_modules)
    modules = target_module_names(model, params.target_modules)
    unknown = sorted(set(plan) - set(modules))
    if unknown:
        raise RankcertError(f"rank plan names modules that don't exist in the model: {unknown[:5]}")
    missing = [m for m in modules if m not in plan]
    if missing:
        raise RankcertError(f"rank plan leaves target modules without a rank: {missing[:5]}")
    alphas = alphas or {m: float(r) for m, r in plan.items()}
    default_rank = max(plan.values())
    # Conv1D stores its weight transposed; PEFT's factors keep the Linear layout (A [r, in], B [out, r]) either way
    conv1d = [m for m in modules if not isinstance(model.get_submodule(m), torch.nn.Linear)]
    if conv1d and len(conv1d) < len(modules):
        raise RankcertError(f"model.target_modules mix Linear and Conv1D layers (e.g. {conv1d[0]}); target one kind")
    config = LoraConfig(
        r=default_rank,
        lora_alpha=alphas[modules[0]],
        target_modules=modules,
        rank_pattern={m: r for m, r in plan.items()},
        alpha_pattern={m: a for m, a in alphas.items()},
        lora_dropout=dropout,
        fan_in_fan_out=bool(conv1d),
        bias="none",
        modules_to_save=list(params.head_modules),
        task_type="SEQ_CLS",
    )
    peft_model = get_peft_model(model, config)
    verify_lora_shapes(peft_model, plan)
    return peft_model


def lora_factor(key: str) -> tuple[str, str] | None:
    """(module name as in the base model, "lora_A" or "lora_B") for a LoRA parameter or saved-weight key, else None.

    PEFT names them `base_model.model.<module>.lora_A[.<adapter>].weight`, in memory and in saved files alike.
    """
    for part in ("lora_A", "lora_B"):
        marker = f".{part}."
        if marker in key:
            return key.split(marker)[0].removeprefix("base_model.model."), part
    return None


def lora_modules(keys) -> dict[str, dict[str, str]]:
    """Module name -> {"lora_A": key, "lora_B": key}, for the LoRA keys among `keys` (parameter or saved names)."""
    found: dict[str, dict[str, str]] = {}
    for key in keys:
        if factor := lora_factor(key):
            module, part = factor
            found.setdefault(module, {})[part] = key
    return found


def lora_shapes(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """Module name (as in the base model) -> (rank of lora_A, rank of lora_B)."""
    return factor_shapes({name: tuple(p.shape) for name, p in model.named_parameters()})


def lora_scales(model: torch.nn.Module) -> dict[str, float]:
    """Module name (as in the base model) -> the factor PEFT multiplies its B·A by (alpha/r; alpha/√r with rsLoRA;
    per module with rank and alpha patterns), read from the built layers: ΔW = scale·B·A."""
    from peft.tuners.lora import LoraLayer

    return {name.removeprefix("base_model.model."): float(next(iter(layer.scaling.values())))
            for name, layer in model.named_modules() if isinstance(layer, LoraLayer)}


def verify_lora_shapes(model: torch.nn.Module, plan: dict[str, int]) -> None:
    """Stop when the built adapter differs from the plan (PEFT ignores pattern keys that match nothing)."""
    built = lora_shapes(model)
    if set(built) != set(plan):
        extra, lost = sorted(set(built) - set(plan)), sorted(set(plan) - set(built))
        raise RankcertError(f"built adapter modules differ from the plan: extra {extra[:3]}, missing {lost[:3]}")
    wrong = [(m, plan[m], built[m]) for m in plan if built[m] != (plan[m], plan[m])]
    if wrong:
        m, want, got = wrong[0]
        raise RankcertError(f"built adapter has rank {got} at {m}, the plan says {want} ({len(wrong)} modules differ)")


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_adapter(model, folder: Path) -> None:
    """PEFT format (adapter_config.json + adapter_model.safetensors), loadable with PeftModel.from_pretrained.

    PEFT keeps target_modules as a set, so its saved order follows PYTHONHASHSEED: the config is rewritten
    with sorted lists and keys, so the same adapter gives the same bytes in every process.
    """
    model.save_pretrained(str(folder), safe_serialization=True)
    config_file = Path(folder) / ADAPTER_CONFIG
    config = json.loads(config_file.read_text())
    for key, value in config.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            config[key] = sorted(value)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def adapter_weights_file(folder: str | Path) -> Path:
    """The saved adapter's safetensors file; a clear error when the stage that writes it hasn't run."""
    path = Path(folder) / ADAPTER_WEIGHTS
    if not path.is_file():
        raise RankcertError(f"no adapter_model.safetensors in {folder}; run the stage that trains it first")
    return path


def read_adapter_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The adapter's tensors; a truncated or foreign file is one clear error, not a traceback."""
    from safetensors.torch import load_file

    path = adapter_weights_file(folder)
    with _readable(path):
        return load_file(str(path))


def read_lora_factors(folder: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Module name -> (lora_A, lora_B) of the saved adapter."""
    weights = read_adapter_weights(folder)
    return {module: (weights[keys["lora_A"]], weights[keys["lora_B"]]) for module, keys in lora_modules(weights).items()}


def adapter_shapes(folder: str | Path) -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor in the saved adapter, read from the file's header (no tensor is loaded)."""
    from safetensors import safe_open

    path = adapter_weights_file(folder)
    with _readable(path), safe_open(str(path), framework="pt") as handle:
        return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, OSError) as err:
        raise RankcertError(f"{path} is not a readable safetensors file ({one_line(err)[:100]}); "
                            "rerun the stage that trains it (dvc repro -f <stage>)") from err


def load_adapter(base_model, folder: str | Path):
    """The saved adapter on `base_model`; its config and weights must agree (shapes, modules)."""
    from peft import PeftModel

    saved = factor_shapes(adapter_shapes(folder))
    config = Path(folder) / ADAPTER_CONFIG
    if not config.is_file():
        raise RankcertError(f"no adapter_config.json in {folder}; rerun the stage that trains it")
    try:
        model = PeftModel.from_pretrained(base_model, str(folder), is_trainable=False)
    except (ValueError, RuntimeError, KeyError, TypeError) as err:
        raise RankcertError(f"the adapter in {folder} doesn't match its adapter_config.json or this model "
                            f"({type(err).__name__}: {one_line(err)[:140]})") from err
    built = lora_shapes(model)
    if built != saved:  # PEFT skips weights whose shapes differ: the model would run with fresh LoRA factors
        module = next(m for m in sorted(set(built) | set(saved)) if built.get(m) != saved.get(m))
        raise RankcertError(f"the adapter in {folder} doesn't match its adapter_config.json: at {module} the weights "
                            f"have (r_A, r_B) {saved.get(module)}, the config builds {built.get(module)}")
    return model


def factor_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, int]]:
    """Module name -> (rank of lora_A, rank of lora_B), from parameter or saved-key names and their shapes."""
    ranks = {}
    for module, keys in lora_modules(shapes).items():
        a, b = keys.get("lora_A"), keys.get("lora_B")  # A is [r, in], B is [out, r]; a missing half reads as 0
        ranks[module] = (int(shapes[a][0]) if a else 0, int(shapes[b][1]) if b else 0)
    return ranks


def adapter_parameters(adapter: Path) -> int:
    """Parameters stored in a saved adapter: its LoRA factors plus the trained head, i.e. what was trainable."""
    return sum(math.prod(shape) for shape in adapter_shapes(adapter).values())
