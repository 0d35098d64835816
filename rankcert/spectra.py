"""Spectra of LoRA updates and the rank plans read from them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from rankcert.errors import RankcertError
from rankcert.modeling import lora_modules, read_adapter_weights
from rankcert.params import Variant

# A float sum of squares can land a hair under the threshold it mathematically reaches.
ENERGY_EPS = 1e-12


@dataclass(frozen=True)
class ModuleSpectrum:
    module: str
    singular_values: list[float]  # of ΔW = (alpha/r)·B·A, descending

    @property
    def stable_rank(self) -> float:
        return stable_rank(self.singular_values)


def delta_singular_values(lora_a: torch.Tensor, lora_b: torch.Tensor, scale: float) -> list[float]:
    """Singular values of scale·B·A without forming ΔW: QR both factors and decompose the r×r core."""
    a = lora_a.detach().to(torch.float64)  # [r, in]
    b = lora_b.detach().to(torch.float64)  # [out, r]
    _, r_b = torch.linalg.qr(b)  # B = Qb·Rb
    _, r_a = torch.linalg.qr(a.T)  # Aᵀ = Qa·Ra
    core = scale * (r_b @ r_a.T)
    return [float(s) for s in torch.linalg.svdvals(core)]


def energy_rank(singular_values: list[float], threshold: float) -> int:
    """Smallest k whose top-k singular values hold at least `threshold` of Σσ² (0 for a zero update)."""
    energies = [s * s for s in sorted(singular_values, reverse=True)]
    total = math.fsum(energies)
    if total == 0.0:
        return 0
    running = 0.0
    for k, e in enumerate(energies, start=1):
        running += e
        if running / total >= threshold - ENERGY_EPS:
            return k
    return len(energies)


def stable_rank(singular_values: list[float]) -> float:
    """‖ΔW‖_F² / ‖ΔW‖_2²; 0 for a zero update."""
    top = max(singular_values, default=0.0)
    return 0.0 if top == 0.0 else math.fsum(s * s for s in singular_values) / (top * top)


def round_up_rank(k: int, allowed: list[int], cap: int) -> int:
    """The smallest allowed rank ≥ k, never above `cap` (the probe rank)."""
    candidates = [r for r in allowed if r <= cap]
    if not candidates:
        raise RankcertError(f"no allowed rank is ≤ the probe rank {cap}")
    for r in candidates:
        if r >= k:
            return r
    return candidates[-1]


def adapter_spectra(adapter_dir: str | Path, scales: dict[str, float]) -> list[ModuleSpectrum]:
    """Per-module spectra of a saved PEFT adapter; `scales` maps module name -> alpha/r."""
    weights = read_adapter_weights(adapter_dir)
    factors = lora_modules(weights)
    if set(factors) != set(scales):
        raise RankcertError(f"adapter in {adapter_dir} does not hold the expected LoRA modules")
    return [
        ModuleSpectrum(m, delta_singular_values(weights[factors[m]["lora_A"]], weights[factors[m]["lora_B"]], scales[m]))
        for m in scales
    ]


def rank_plan(variant: Variant, modules: list[str], spectra: dict[str, list[float]] | None,
              threshold: float, allowed: list[int], probe_rank: int) -> dict[str, int]:
    """Module name -> rank for `variant`; names every target module, per_layer from the probe's spectra.

    `threshold` is compress.energy_threshold, for a per_layer variant that names none; a truncated variant has
    the plan of the variant it truncates to.
    """
    source = variant.plan_source
    if source.kind == "uniform":
        return {m: int(source.rank) for m in modules}
    if spectra is None:
        raise RankcertError(f"variant {variant.name} needs the probe's spectra")
    missing = [m for m in modules if m not in spectra]
    if missing:
        raise RankcertError(f"probe spectra lack modules {missing[:3]}; re-run the probe stage")
    at = variant.energy_threshold(threshold)
    return {m: round_up_rank(energy_rank(spectra[m], at), allowed, probe_rank) for m in modules}
