"""A seed's adapters evaluated on one base model loaded once: each one's predictions table and its Evaluation record
(accuracy, size, and which adapter and which table they are of)."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from rankcert.config.params import Params
from rankcert.config.records import PREDICTION_COLUMNS, AdapterRun, Evaluation
from rankcert.evaluation.prediction import predict
from rankcert.inputs.data import Encoded
from rankcert.runtime.layout import LAYOUT, PROBE
from rankcert.runtime.outputs import csv_text
from rankcert.training import identity, modeling


@dataclass(frozen=True)
class Scored:
    name: str
    table: str  # the predictions CSV
    record: Evaluation
    seconds: float


def verified_runs(params: Params, seed: int, names: list[str]) -> dict[str, AdapterRun]:
    """Every adapter's run record, each checked to be the adapter its stage wrote (before anything is evaluated)."""
    base_identity = identity.base_model(params.model)
    return {name: identity.verified_run(LAYOUT.run(seed, name), seed, name, base_identity) for name in names}


def evaluate_on_device(params: Params, seed: int, runs: dict[str, AdapterRun], eval_data: Encoded,
                       device: torch.device) -> Iterator[Scored]:
    """Each adapter of `runs` (the probe among them) on a weight-sharing copy of one base model, in turn."""
    sizes = {name: modeling.adapter_parameters(LAYOUT.adapter(seed, name)) for name in runs}
    labels = eval_data.labels.tolist()
    modeling.seed_everything(seed)
    base = modeling.load_base_model(params.model)  # once: each adapter wraps a weight-sharing copy
    for name, run in runs.items():
        started = time.perf_counter()
        model = modeling.load_adapter(modeling.frozen_copy(base), LAYOUT.adapter(seed, name))
        predictions = predict(model, eval_data, params.evaluate.batch_size, device)
        del model
        correct = sum(int(p == y) for p, y in zip(predictions, labels))
        rows = [{"index": i, "label": y, "prediction": p} for i, (y, p) in enumerate(zip(labels, predictions))]
        table = csv_text(rows, PREDICTION_COLUMNS)
        record = Evaluation(adapter_sha256=run.adapter_sha256,  # which adapter these predictions are of
                            predictions_sha256=hashlib.sha256(table.encode("utf-8")).hexdigest(),
                            accuracy=correct / len(labels), correct=correct, examples=len(labels),
                            trainable_parameters=sizes[name],
                            reduction_vs_probe=round(1 - sizes[name] / sizes[PROBE], 6))
        yield Scored(name, table, record, time.perf_counter() - started)
