"""Compression without retraining: the probe's LoRA update cut by SVD to a smaller rank plan, kept in PEFT format."""
from __future__ import annotations

from pathlib import Path

import torch

from rankcert.runtime.errors import RankcertError, one_line
from rankcert.training import modeling
from rankcert.training.modeling import lora_modules


def truncated_factors(lora_a: torch.Tensor, lora_b: torch.Tensor, scale: float,
                      rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A [rank, in], B [out, rank]) whose product is the best rank-`rank` approximation of scale·B·A.

    The new adapter has alpha = rank, so PEFT applies B·A unscaled. QR of both factors reduces the SVD to the
    r×r core (as in spectra.delta_singular_values); √σ goes to each side, so neither factor dwarfs the other.
    """
    a, b = lora_a.detach().to(torch.float64), lora_b.detach().to(torch.float64)
    if not 0 < rank <= a.shape[0]:
        raise RankcertError(f"cannot truncate a rank-{a.shape[0]} update to rank {rank}")
    q_b, r_b = torch.linalg.qr(b)
    q_a, r_a = torch.linalg.qr(a.T)
    u, s, vh = torch.linalg.svd(scale * (r_b @ r_a.T))
    root = s[:rank].sqrt()
    new_b = (q_b @ u[:, :rank]) * root
    new_a = root[:, None] * (vh[:rank] @ q_a.T)
    return new_a.to(lora_a.dtype).contiguous(), new_b.to(lora_b.dtype).contiguous()


def truncate_weights(weights: dict[str, torch.Tensor], plan: dict[str, int],
                     scales: dict[str, float]) -> dict[str, torch.Tensor]:
    """The probe's saved weights with every LoRA pair truncated to `plan`; everything else (the head) as is.
    `scales`: module -> the factor PEFT applies to its B·A (modeling.lora_scales)."""
    factors = lora_modules(weights)
    if set(factors) != set(plan) or set(factors) - set(scales):
        lost = sorted(set(plan) ^ set(factors) | set(factors) - set(scales))
        raise RankcertError(f"the probe adapter's LoRA modules differ from the plan's (e.g. {lost[:2]}); "
                            "rerun the probe stage")
    out = dict(weights)
    for module, keys in factors.items():
        held = weights[keys["lora_A"]].shape[0]
        if plan[module] > held:  # an imported adapter's rank can be below allowed_ranks' or another module's
            raise RankcertError(f"the plan asks rank {plan[module]} at {module}, above the probe adapter's rank {held} "
                                "there: a cut cannot add rank; keep compress.allowed_ranks and the truncated "
                                f"variants' ranks at or below {held}")
        out[keys["lora_A"]], out[keys["lora_B"]] = truncated_factors(
            weights[keys["lora_A"]], weights[keys["lora_B"]], scales[module], plan[module])
    return out


def load_weights(model, weights: dict[str, torch.Tensor], source: Path) -> None:
    """Put saved-format `weights` into the PEFT `model`: exactly its adapter's keys, each of the same shape."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    expected = set(get_peft_model_state_dict(model))
    if expected != set(weights):
        odd = sorted(expected ^ set(weights))
        raise RankcertError(f"the adapter from {source} and this model's adapter differ in {len(odd)} weights "
                            f"(e.g. {odd[:2]}); rerun the probe stage")
    try:
        set_peft_model_state_dict(model, weights)
    except RuntimeError as err:
        raise RankcertError(f"the adapter from {source} doesn't fit this model: {one_line(err)[:160]}") from err


def load_truncated(model, plan: dict[str, int], probe_adapter: Path, scales: dict[str, float]) -> None:
    """Put into `model` (LoRA at `plan`) the probe's adapter with every update cut to `plan`, the head as trained.

    The SVD runs on the CPU in float64, so the same probe gives the same bytes on any machine.
    """
    weights = modeling.read_adapter_weights(probe_adapter)
    load_weights(model, truncate_weights(weights, plan, scales), probe_adapter)
