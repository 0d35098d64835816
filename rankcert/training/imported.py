"""A user's own PEFT LoRA adapter in the probe's place (params `probe.adapter`): checked, then imported as is.

Refused, each in one line: a folder that is not a plain LoRA adapter (peft_type, DoRA, trained biases), one for
another base model (its config's base_model_name_or_path, then the base's layer and head shapes against its
factors), a probe.rank or probe.alpha that isn't the adapter's, and files that are not the bytes `track@<key>`
recorded. The config checks need no torch (validate runs them); the shape checks need the loaded base model (the
probe stage runs them, and the config checks again: a stage checks what it relies on).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from rankcert.config import records
from rankcert.config.params import Params
from rankcert.config.records import AdapterConfig, Tracked
from rankcert.inputs.sources import ADAPTER_FILES, check_tracked
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import Layout


def check_config(params: Params) -> AdapterConfig:
    """The adapter's config, once it is a plain LoRA adapter for model.name whose rank and alpha params state."""
    folder = Path(params.probe.adapter)
    config = _read_config(folder)
    where = f"probe.adapter {folder}"
    if config.peft_type != "LORA":
        raise RankcertError(f"{where} is a {config.peft_type} adapter, not LoRA (its adapter_config.json peft_type): "
                            "rankcert cuts LoRA updates B·A only")
    if config.use_dora:
        raise RankcertError(f"{where} is a DoRA adapter (use_dora): its update is not B·A alone, so a cut of B·A is "
                            "not a cut of it")
    if (config.bias or "none") != "none" or config.lora_bias:
        raise RankcertError(f"{where} trains biases (bias {config.bias!r}, lora_bias {config.lora_bias}): its update "
                            "is not B·A alone; rankcert cuts plain LoRA only")
    targets = config.target_modules
    if not isinstance(targets, list) or not targets:
        raise RankcertError(f"{where}: its target_modules is {targets!r}, not a list of module names; save it with "
                            "target_modules listed")
    recorded = config.base_model_name_or_path
    if recorded and not same_base(recorded, params.model.name):
        raise RankcertError(f"{where} was trained on base model {recorded!r} (its adapter_config.json "
                            f"base_model_name_or_path), but model.name is {params.model.name!r}: an adapter for "
                            "another base model; point model.name at its base")
    rank, alpha = config.largest_rank, config.lora_alpha
    if rank != params.probe.rank or alpha != params.probe.alpha:
        raise RankcertError(f"{where} has rank {rank} and alpha {alpha}, but params say probe.rank {params.probe.rank} "
                            f"and probe.alpha {params.probe.alpha}: set them to the adapter's (compress.allowed_ranks "
                            "and the variants' ranks stay at or below its rank: a cut cannot add rank)")
    return config


def _read_config(folder: Path) -> AdapterConfig:
    if not folder.is_dir():
        raise RankcertError(f"probe.adapter {str(folder)!r} is not a folder; point it at a PEFT adapter folder")
    for name in ADAPTER_FILES:
        if not (folder / name).is_file():
            raise RankcertError(f"probe.adapter {folder} has no {name}: point it at a PEFT adapter folder "
                                "(save_pretrained writes both files)")
    return records.read_adapter_config(folder, "the adapter folder is damaged")


def same_base(recorded: str, model_name: str) -> bool:
    """The base an adapter names is model.name: the same id or folder, or (a hub id beside a local copy, a folder
    moved) the same last name; the shape checks then decide."""
    def last(name: str) -> str:
        return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]

    if recorded.rstrip("/") == model_name.rstrip("/"):
        return True
    if Path(recorded).is_dir() and Path(model_name).is_dir() and os.path.samefile(recorded, model_name):
        return True
    return last(recorded) == last(model_name)


def tracked_files(params: Params, layout: Layout) -> dict[str, bytes]:
    """The adapter's files, each the bytes `track@<key>` recorded (the folder is listed in params `inputs`)."""
    folder = Path(params.probe.adapter)
    _read_config(folder)
    check_tracked(str(folder), "probe.adapter", params.inputs)
    keys = [key for key, path in params.inputs.items() if os.path.realpath(path) == os.path.realpath(folder)]
    recorded = records.read(layout.tracked(keys[0]), Tracked, f"the adapter's bytes were never recorded: run "
                            f"`dvc repro track@{keys[0]}` first").files
    files = {}
    for name in ADAPTER_FILES:
        path = folder / name
        files[name] = content = path.read_bytes()
        found = hashlib.sha256(content).hexdigest()
        if recorded.get(name) != found:
            raise RankcertError(f"{path} is not the file track@{keys[0]} recorded (sha256 {recorded.get(name)}; the file "
                                f"hashes to {found}): it changed after DVC tracked it; restore it, or `dvc repro` "
                                "tracks and certifies the new bytes")
    return files


def check_shapes(folder: Path, base_model, modules: list[str], model_params) -> None:
    """The adapter's factors and head against the loaded base model: every LoRA module a layer of this base with
    A [r, in] and B [out, r] of its shape, exactly model.target_modules' layers, the head model.head_modules' with
    the base's shapes. Anything else is an adapter for another base (or other targets), named in one line."""
    from rankcert.training.modeling import adapter_shapes, lora_modules, projection_types

    where = f"probe.adapter {folder}"
    shapes = adapter_shapes(folder)
    factors = lora_modules(shapes)
    layers = {name: m for name, m in base_model.named_modules() if isinstance(m, projection_types())}
    foreign = sorted(set(factors) - set(layers))
    if foreign:
        raise RankcertError(f"{where} adapts layers this base model doesn't have (e.g. {foreign[0]}): an adapter for "
                            f"another base model than {model_params.name}")
    if set(factors) != set(modules):
        extra, lost = sorted(set(factors) - set(modules)), sorted(set(modules) - set(factors))
        raise RankcertError(f"{where} adapts other layers than model.target_modules {model_params.target_modules} "
                            f"match (the adapter's only: {extra[:2]}; the params' only: {lost[:2]}): set "
                            "model.target_modules to the modules the adapter targets")
    for module, keys in sorted(factors.items()):
        if set(keys) != {"lora_A", "lora_B"}:
            raise RankcertError(f"{where} has only {sorted(keys)} at {module}: not a LoRA adapter's pair of factors")
        a, b = shapes[keys["lora_A"]], shapes[keys["lora_B"]]
        weight = tuple(layers[module].weight.shape)
        out_in = weight if isinstance(layers[module], projection_types()[0]) else weight[::-1]  # Conv1D: [in, out]
        if len(a) != 2 or len(b) != 2 or (b[0], a[1]) != out_in or a[0] != b[1]:
            raise RankcertError(f"{where} at {module}: A {list(a)}, B {list(b)} don't fit the base's layer "
                                f"({out_in[1]} in, {out_in[0]} out): an adapter for another base model than "
                                f"{model_params.name}")
    _check_head(where, shapes, base_model, model_params)


def _check_head(where: str, shapes: dict, base_model, model_params) -> None:
    """The saved head (non-LoRA keys) is model.head_modules' and fits the base's head."""
    prefix = "base_model.model."
    head = {key.removeprefix(prefix): shape for key, shape in shapes.items()
            if ".lora_A." not in key and ".lora_B." not in key}
    heads = {key.rsplit(".", 1)[0].split(".")[-1] for key in head}
    if heads != set(model_params.head_modules):
        raise RankcertError(f"{where} holds a trained head {sorted(heads)} (what its modules_to_save saved), but "
                            f"model.head_modules is {model_params.head_modules}: set model.head_modules to the "
                            "adapter's (its cuts keep the head it trained; a head it lacks would be untrained)")
    own = {name: tuple(p.shape) for name, p in base_model.named_parameters()}
    for key, shape in sorted(head.items()):
        if own.get(key) != tuple(shape):
            found = "no such weight" if key not in own else f"{list(own[key])}"
            raise RankcertError(f"{where}: its head weight {key} is {list(shape)}, this base model's is {found} "
                                f"(model.num_labels {model_params.num_labels}): an adapter for another base model "
                                "or label count")
