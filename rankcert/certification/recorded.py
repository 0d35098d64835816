"""What ran, as the stages' records state it (rankcert.config.records), and every fact params state otherwise.

Params say what should run; a certificate may only claim what ran. The validation level and the recipe in the
report are read from here: steps trained (each adapter's run record), examples drawn (prepare's manifests) and
evaluated (evaluate's records, checked against the predictions), seeds present, the recipe and precision, the
data. Where a record and params disagree (params changed after the stages ran and certify ran alone, a record
restored from elsewhere) each fact is one line naming both values, and the run is not certified.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from rankcert.certification.run_results import RunResults
from rankcert.config.params import Params, TrainParams
from rankcert.config.records import IMPORTED
from rankcert.runtime.layout import PROBE

SHOWN = 5  # stage runs named in one line before "and N more"


@dataclass(frozen=True)
class Recorded:
    seeds: list[int]  # seeds whose probe was trained and evaluated
    steps: int  # the fewest optimizer steps any adapter judged was trained for (0: none recorded)
    train_examples: int  # the fewest train examples a present seed drew (prepare's manifests)
    eval_examples: int  # the fewest examples an adapter was evaluated on
    recipe: TrainParams | None  # the train section the first probe ran with (None: it was imported)
    imported: bool  # a probe is a user's adapter (params probe.adapter), not trained here
    disagreements: list[str]  # one line per fact the records and params state differently


def recorded(params: Params, found: RunResults) -> Recorded:
    """What `found`'s records say ran, and where they disagree with `params`."""
    seeds = [s for s in params.seeds if (s, PROBE) in found.runs]
    manifests = [found.manifests[s] for s in seeds if s in found.manifests]
    first = found.environment
    return Recorded(
        seeds=seeds,
        steps=min((run.training.steps for run in found.runs.values() if run.training.steps is not None), default=0),
        train_examples=min((m.train.rows for m in manifests), default=0),
        eval_examples=min((e.examples for e in found.evaluations.values()), default=0),
        recipe=first.training.recipe if first else None,
        imported=any(found.runs[(s, PROBE)].training.source == IMPORTED for s in seeds),
        disagreements=disagreements(params, found),
    )


def disagreements(params: Params, found: RunResults) -> list[str]:
    """One line per recorded fact that params (or a later record) state otherwise, naming the stage runs that
    record it: "probe@42, compress@42 trained 300 steps; params say train.steps 500"."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)  # (recorded fact, what says otherwise) -> runs

    def differs(where: str, recorded: str, other: str) -> None:
        if where not in seen[(recorded, other)]:
            seen[(recorded, other)].append(where)

    train, data = params.train, params.data
    for (seed, name), run in found.runs.items():
        where, t = f"probe@{seed}" if name == PROBE else f"compress@{seed}", run.training
        if name == PROBE and (t.source == IMPORTED) != bool(params.probe.adapter):
            differs(where, "imported an adapter" if t.source == IMPORTED else "trained the probe here",
                    f"params say probe.adapter {params.probe.adapter or 'null'}")
        if name == PROBE and set(run.ranks.values()) != {params.probe.rank}:
            differs(where, f"has rank {_values(run.ranks)}", f"params say probe.rank {params.probe.rank}")
        if t.steps is None:  # an imported adapter or a cut of it: its training is not known
            continue
        if t.steps != train.steps:
            differs(where, f"trained {t.steps} steps", f"params say train.steps {train.steps}")
        for field in dataclasses.fields(TrainParams):
            ran, wanted = getattr(t.recipe, field.name), getattr(train, field.name)
            if field.name != "steps" and ran != wanted:
                differs(where, f"trained with train.{field.name} {ran}", f"params say train.{field.name} {wanted}")
        manifest = found.manifests.get(seed)
        if manifest and (t.data_fingerprint, t.examples) != (manifest.train.fingerprint, manifest.train.rows):
            differs(where, f"trained on train sample {t.data_fingerprint[:12]} ({t.examples} examples)",
                    f"prepare@{seed} has drawn {manifest.train.fingerprint[:12]} ({manifest.train.rows}) since")
    for seed, manifest in found.manifests.items():
        if manifest.train.rows != data.train_size:
            differs(f"prepare@{seed}", f"drew {manifest.train.rows} train examples",
                    f"params say data.train_size {data.train_size}")
        if manifest.source != data.source:
            differs(f"prepare@{seed}", f"drew from {manifest.source}", f"params say data.source {data.source}")
    for (seed, _), evaluation in found.evaluations.items():
        whole = found.manifests[seed].eval.split_rows if seed in found.manifests else None
        wanted = data.eval_rows or whole
        if wanted is not None and evaluation.examples != wanted:
            differs(f"evaluate@{seed}", f"evaluated {evaluation.examples} examples",
                    f"params say data.eval_size {data.eval_size}" + ("" if data.eval_rows else f" ({whole} rows)"))
    return [_line(runs, recorded, other) for (recorded, other), runs in seen.items()]


def _values(ranks: dict[str, int]) -> str:
    return "/".join(map(str, sorted(set(ranks.values()))))


def _line(runs: list[str], recorded: str, other: str) -> str:
    named = ", ".join(runs[:SHOWN]) + (f" and {len(runs) - SHOWN} more" if len(runs) > SHOWN else "")
    return f"{named} {recorded}; {other}"
