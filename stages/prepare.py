"""Stage prepare (per seed): draw the train sample with the seed, take the fixed eval sample, tokenize once.

Writes the seed's prepared folder (rankcert.runtime.layout): train.safetensors, eval.safetensors, manifest.json.
"""
from __future__ import annotations

from collections.abc import Sequence

from rankcert.config import records
from rankcert.config.entrypoint import per_seed, run_main
from rankcert.config.records import Manifest, Sample
from rankcert.inputs import data, padding
from rankcert.inputs.sources import check_model_limits
from rankcert.runtime.layout import LAYOUT, MANIFEST, split_file
from rankcert.runtime.outputs import atomic_dir, write_text


def main(argv: Sequence[str] | None = None) -> None:
    seed, params, label = per_seed("prepare", __doc__, argv)
    d = params.data
    print(f"[{label}] {d.source}: {d.train_size} train (seed {seed}), "
          f"{d.eval_size} eval", flush=True)

    check_model_limits(params.model.name, params.model.max_length)  # validate's check: this stage relies on it
    # the tokenizer first: an unreachable hub fails before any data work
    tokenizer, pad = padding.classification_tokenizer(params.model.name, params.model.revision)
    labels = params.model.num_labels
    train_split, eval_split = data.load_splits(d, labels)
    train = data.draw_train(train_split, d.train_size, seed, origin=f"{d.train_split} split")
    evaluation = data.take_eval(eval_split, d.eval_rows, origin=f"{d.eval_split} split")
    encoded = {name: data.encode(frame, tokenizer, params.model.max_length)
               for name, frame in (("train", train), ("eval", evaluation))}
    for name, split in (("train", d.train_split), ("eval", d.eval_split)):
        padding.check_last_tokens(encoded[name], pad, f"the {name} examples of the {split} split")
    manifest = Manifest(seed, d.source, train=Sample(
        len(train), data.fingerprint(train), int(encoded["train"].input_ids.shape[1]), **data.label_counts(train, labels)),
        eval=Sample(len(evaluation), data.fingerprint(evaluation), int(encoded["eval"].input_ids.shape[1]),
                    **data.label_counts(evaluation, labels), split_rows=len(eval_split)))
    with atomic_dir(LAYOUT.prepared(seed)) as scratch:
        for name, tensors in encoded.items():
            data.save_encoded(tensors, scratch / split_file(name))
        write_text(scratch / MANIFEST, records.text(manifest))


if __name__ == "__main__":
    run_main(main)
