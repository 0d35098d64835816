"""Spectra of LoRA updates: the singular values of ΔW = scale·B·A per module, and its stable rank (the rank
arithmetic a plan reads them with is rankcert.config.ranks).

torch is imported where an SVD runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rankcert.runtime.errors import RankcertError

if TYPE_CHECKING:
    import torch

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


def stable_rank(singular_values: list[float]) -> float:
    """‖ΔW‖_F² / ‖ΔW‖_2²; 0 for a zero update."""
    top = max(singular_values, default=0.0)
    return 0.0 if top == 0.0 else math.fsum(s * s for s in singular_values) / (top * top)


def adapter_spectra(factors: dict[str, tuple[torch.Tensor, torch.Tensor]],
                    scales: dict[str, float]) -> list[ModuleSpectrum]:
    """Per-module spectra of an adapter's (lora_A, lora_B) pairs; `scales` maps module name -> alpha/r."""
    if set(factors) != set(scales):
        raise RankcertError("the adapter does not hold the expected LoRA modules; rerun the probe stage")
    return [ModuleSpectrum(m, delta_singular_values(*factors[m], scales[m])) for m in scales]
