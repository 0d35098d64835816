"""Stage evaluate (per seed and adapter): accuracy on the eval examples, size, and per-example predictions."""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from rankcert import data, modeling
from rankcert.errors import run_main
from rankcert.outputs import together
from rankcert.params import load_params
from rankcert.prediction import adapter_parameters, predict


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--name", required=True, help="probe or a variant name")
    parser.add_argument("--adapter", type=Path, required=True, help="the adapter folder to evaluate")
    parser.add_argument("--probe-adapter", type=Path, required=True, help="the probe's adapter, for the reduction")
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True, help="per-example predictions CSV to write")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    print(f"[evaluate@{args.seed}-{args.name}]", flush=True)

    eval_data = data.load_encoded(args.prepared / "eval.safetensors")
    size, probe_size = adapter_parameters(args.adapter), adapter_parameters(args.probe_adapter)
    started = time.perf_counter()
    modeling.seed_everything(args.seed)
    device = modeling.resolve_device(params.train.device, f"evaluate@{args.seed}-{args.name}")
    model = modeling.load_adapter(modeling.load_base_model(params.model), args.adapter)
    predictions = predict(model, eval_data, params.train.eval_batch_size, device)
    seconds = time.perf_counter() - started
    labels = eval_data.labels.tolist()
    correct = sum(int(p == y) for p, y in zip(predictions, labels))
    with together() as out:  # the predictions and their metrics replace the old pair together
        out.csv(args.predictions, [{"index": i, "label": y, "prediction": p} for i, (y, p) in
                                   enumerate(zip(labels, predictions))], ["index", "label", "prediction"])
        out.json(args.metrics, {
            "accuracy": correct / len(labels),
            "correct": correct,
            "examples": len(labels),
            "trainable_parameters": size,
            "reduction_vs_probe": round(1 - size / probe_size, 6),
        })
    print(f"[evaluate@{args.seed}-{args.name}] accuracy {correct / len(labels):.4f}, {size:,} params; "
          f"evaluated in {seconds:.2f} s ({device.type})", flush=True)


if __name__ == "__main__":
    run_main(main)
