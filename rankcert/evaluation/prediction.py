"""Evaluation: an adapter's predictions on the eval examples."""
from __future__ import annotations

import torch

from rankcert.inputs.data import Encoded


@torch.no_grad()
def predict(model: torch.nn.Module, data: Encoded, batch_size: int, device: torch.device) -> list[int]:
    """Predicted label of every example, in order."""
    model.to(device).eval()
    lengths = data.attention_mask.sum(axis=1)
    predictions = []
    for start in range(0, len(data), batch_size):
        stop = min(start + batch_size, len(data))
        width = int(lengths[start:stop].max())
        logits = model(input_ids=torch.from_numpy(data.input_ids[start:stop, :width]).to(device),
                       attention_mask=torch.from_numpy(data.attention_mask[start:stop, :width]).to(device)).logits
        predictions.append(logits.argmax(dim=-1).cpu())
    return torch.cat(predictions).tolist()
