"""Spectra of LoRA updates, and the energy maths rank plans are read with (rankcert.variants makes the plans).

torch is imported where an SVD runs: the maths a plan needs imports nothing heavy, so neither do params.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rankcert.errors import RankcertError

if TYPE_CHECKING:
    import torch

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
    import torch

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


def adapter_spectra(factors: dict[str, tuple[torch.Tensor, torch.Tensor]],
                    scales: dict[str, float]) -> list[ModuleSpectrum]:
    """Per-module spectra of an adapter's (lora_A, lora_B) pairs; `scales` maps module name -> alpha/r."""
    if set(factors) != set(scales):
        raise RankcertError("the adapter does not hold the expected LoRA modules; rerun the probe stage")
    return [ModuleSpectrum(m, delta_singular_values(*factors[m], scales[m])) for m in scales]
