"""Stage evaluate (per seed): the probe and every variant of the seed on the eval examples, on one base model
loaded once (rankcert.evaluation.adapters): accuracy, size, and per-example predictions."""
from __future__ import annotations

from collections.abc import Sequence

from rankcert.config import records
from rankcert.config.entrypoint import per_seed, run_main
from rankcert.evaluation import adapters
from rankcert.inputs import data
from rankcert.runtime.device import lease_device
from rankcert.runtime.layout import LAYOUT, PROBE
from rankcert.runtime.outputs import together


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("evaluate", __doc__, argv)
    names = [PROBE, *params.variant_names]
    print(f"[{label}] {len(names)} adapters: {', '.join(names)}", flush=True)
    eval_data = data.load_encoded(LAYOUT.split_data(seed, "eval"), params.model.name)
    runs = adapters.verified_runs(params, seed, names)
    device = lease_device(params.runtime, label)
    with together() as out:  # every prediction and metrics file of the seed replaces the old ones together
        predictions_folder = out.folder(LAYOUT.predictions_folder(seed))
        metrics_folder = out.folder(LAYOUT.eval_metrics_folder(seed))
        for scored in adapters.evaluate_on_device(params, seed, runs, eval_data, device):
            (predictions_folder / f"{scored.name}.csv").write_text(scored.table, encoding="utf-8")
            (metrics_folder / f"{scored.name}.json").write_text(records.text(scored.record), encoding="utf-8")
            print(f"[{label}-{scored.name}] accuracy {scored.record.accuracy:.4f}, "
                  f"{scored.record.trainable_parameters:,} params; evaluated in {scored.seconds:.2f} s ({device.type})",
                  flush=True)


if __name__ == "__main__":
    run_main(main)
