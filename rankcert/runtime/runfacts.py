"""Facts about the run environment (versions, device, model files); never written into metrics files."""
from __future__ import annotations

import functools
import hashlib
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ["torch", "transformers", "peft", "datasets", "dvc", "pandas", "numpy", "safetensors"]


@functools.cache  # a stage writes several run folders; the installed versions don't change within it
def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_name(device) -> str:
    import torch  # only the training stages ask; certify reports without importing torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def environment(device) -> dict:
    return {"python": platform.python_version(), "packages": dict(package_versions()), "device": device_name(device)}


def model_fingerprint(name: str) -> str:
    """sha256 over a local model folder's weight and tokenizer files; a hub id is reported as such."""
    folder = Path(name)
    if not folder.is_dir():
        return f"hub:{name}"
    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if file.suffix in (".safetensors", ".json", ".txt") and file.is_file():
            digest.update(file.name.encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()
