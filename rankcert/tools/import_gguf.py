"""A GGUF checkpoint as a model folder the pipeline loads: `python -m rankcert.tools.import_gguf FILE.gguf OUT`.

    pip install -e ".[gguf]"    # the gguf package transformers reads GGUF with
    python -m rankcert.tools.import_gguf ~/models/SmolLM2-135M-Instruct.Q4_1.gguf models/smollm2

Transformers de-quantizes the GGUF tensors to float32 once, here; OUT then holds them as safetensors (exact:
float32 holds every de-quantized value), the tokenizer, and `gguf_source.json` naming the GGUF file and its sha256.
Point `model.name` (and `inputs.model`) at OUT. Stages load OUT in seconds instead of de-quantizing the GGUF in
every one. OUT must not exist yet: it is written beside itself and renamed into place when complete.
"""
from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from rankcert.config.entrypoint import run_main
from rankcert.inputs.sources import file_sha256
from rankcert.runtime.errors import RankcertError, one_line

SOURCE_RECORD = "gguf_source.json"


def import_gguf(gguf: Path, out: Path) -> dict:
    """Write the de-quantized model, its tokenizer and the source record to `out`; returns the record."""
    if not gguf.is_file() or gguf.suffix != ".gguf":
        raise RankcertError(f"{gguf} is not a .gguf file; give the path of a GGUF checkpoint")
    if out.exists():
        raise RankcertError(f"{out} already exists; give a new folder (an import never overwrites a model)")
    _require_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    except (OSError, ValueError, KeyError) as err:
        raise RankcertError(f"transformers cannot read {gguf} as a model ({type(err).__name__}: {one_line(err)[:200]}); "
                            "give a GGUF checkpoint of an architecture transformers' GGUF loader lists") from err
    try:
        _plain(model).save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        record = {"gguf_file": gguf.name, "gguf_sha256": file_sha256(gguf),
                  "architecture": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()),
                  "versions": {name: metadata.version(name) for name in ("transformers", "gguf")}}
        (partial / SOURCE_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(out)
    return record


def _plain(model):
    """The same weights in a model transformers will save: a GGUF-loaded model keeps a quantization config
    that refuses `save_pretrained`, although its tensors are already plain float32."""
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    plain.load_state_dict(model.state_dict(), strict=True)
    return plain


def _require_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise RankcertError("reading GGUF needs the gguf package: pip install -e \".[gguf]\"") from err


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gguf", type=Path, help="the GGUF checkpoint")
    parser.add_argument("out", type=Path, help="the model folder to write (must not exist)")
    args = parser.parse_args(argv)
    record = import_gguf(args.gguf, args.out)
    print(f"[import-gguf] {args.out}: {record['architecture']}, {record['parameters']:,} parameters as float32 "
          f"safetensors, from {record['gguf_file']} (sha256 {record['gguf_sha256'][:12]}…)", flush=True)


if __name__ == "__main__":
    run_main(main)
