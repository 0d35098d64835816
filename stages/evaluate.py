"""Stage evaluate (per seed): the probe and every variant of the seed on the eval examples, on one base model
loaded once: accuracy, size, and per-example predictions."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from rankcert.config import records
from rankcert.config.harness import per_seed, run_main
from rankcert.config.records import Evaluation
from rankcert.evaluation.prediction import predict
from rankcert.inputs import data
from rankcert.runtime.device import lease_device
from rankcert.runtime.layout import LAYOUT, PROBE
from rankcert.runtime.outputs import csv_text, together
from rankcert.training import identity, modeling


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("evaluate", __doc__, argv)
    names = [PROBE, *params.variant_names]
    print(f"[{label}] {len(names)} adapters: {', '.join(names)}", flush=True)

    eval_data = data.load_encoded(LAYOUT.split_data(seed, "eval"), params.model.name)
    # every adapter readable, and the one its stage wrote, before anything is evaluated
    base_identity = identity.base_model(params.model)
    runs = {name: identity.verified_run(LAYOUT.run(seed, name), seed, name, base_identity) for name in names}
    sizes = {name: modeling.adapter_parameters(LAYOUT.adapter(seed, name)) for name in names}
    labels = eval_data.labels.tolist()
    device = lease_device(params.runtime, label)
    modeling.seed_everything(seed)
    base = modeling.load_base_model(params.model)  # once: each adapter wraps a weight-sharing copy
    with together() as out:  # every prediction and metrics file of the seed replaces the old ones together
        predictions_folder = out.folder(LAYOUT.predictions_folder(seed))
        metrics_folder = out.folder(LAYOUT.eval_metrics_folder(seed))
        for name in names:
            started = time.perf_counter()
            model = modeling.load_adapter(modeling.frozen_copy(base), LAYOUT.adapter(seed, name))
            predictions = predict(model, eval_data, params.evaluate.batch_size, device)
            del model
            correct = sum(int(p == y) for p, y in zip(predictions, labels))
            rows = [{"index": i, "label": y, "prediction": p} for i, (y, p) in enumerate(zip(labels, predictions))]
            table = csv_text(rows, ["index", "label", "prediction"])
            (predictions_folder / f"{name}.csv").write_text(table, encoding="utf-8")
            (metrics_folder / f"{name}.json").write_text(records.text(Evaluation(
                adapter_sha256=runs[name].adapter_sha256,  # which adapter these predictions are of
                predictions_sha256=hashlib.sha256(table.encode("utf-8")).hexdigest(),
                accuracy=correct / len(labels), correct=correct, examples=len(labels),
                trainable_parameters=sizes[name], reduction_vs_probe=round(1 - sizes[name] / sizes[PROBE], 6))),
                encoding="utf-8")
            print(f"[{label}-{name}] accuracy {correct / len(labels):.4f}, {sizes[name]:,} params; "
                  f"evaluated in {time.perf_counter() - started:.2f} s ({device.type})", flush=True)


if __name__ == "__main__":
    run_main(main)
