"""The MiniLM stand-in packed to travel to a device machine (whose carry limit is 64 MiB), and unpacked there.

    python benchmarks/device_assets.py pack --model DIR --data ../shared/data/sst2 --out .minilm/minilm.tar.xz
    python benchmarks/device_assets.py unpack --archive .minilm/minilm.tar.xz --out /tmp/minilm

`pack` keeps the config and tokenizer files as they are, stores the weights in fp16, and zeroes the rows of the
word-embedding matrix that no sentence of the data's train and validation splits tokenizes to (special tokens
kept), so the archive compresses to about a third. `unpack` writes the weights back as fp32. The result is a
fixed model (its fingerprint is the same on every unpack), not the original bit for bit.
"""
from __future__ import annotations

import argparse
import io
import shutil
import tarfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

EMBEDDINGS = "embeddings.word_embeddings.weight"
KEPT = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]


def used_token_ids(model_dir: Path, data_dir: Path) -> set[int]:
    import pandas as pd
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    used = set(tokenizer.all_special_ids)
    for split in ("train", "validation"):
        sentences = pd.read_parquet(next(data_dir.glob(f"{split}.*")))["sentence"].tolist()
        for ids in tokenizer(sentences, truncation=False)["input_ids"]:
            used.update(ids)
    return used


def pack(model_dir: Path, data_dir: Path, out: Path) -> None:
    weights = load_file(model_dir / "model.safetensors")
    key = next(k for k in weights if k.endswith(EMBEDDINGS))
    keep = torch.zeros(weights[key].shape[0], dtype=torch.bool)
    keep[sorted(used_token_ids(model_dir, data_dir))] = True
    weights[key] = weights[key] * keep[:, None].to(weights[key].dtype)
    half = {k: v.half().contiguous() if v.is_floating_point() else v.contiguous() for k, v in weights.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:xz") as tar:
        for name in KEPT:
            if (model_dir / name).exists():
                tar.add(model_dir / name, arcname=name)
        blob = io.BytesIO()
        blob.write(_safetensors_bytes(half))
        info = tarfile.TarInfo("model.fp16.safetensors")
        info.size = blob.tell()
        blob.seek(0)
        tar.addfile(info, blob)
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB, {int(keep.sum())} of {keep.numel()} embedding rows kept")


def _safetensors_bytes(tensors: dict) -> bytes:
    from safetensors.torch import save

    return save(tensors)


def unpack(archive: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    half = load_file(out / "model.fp16.safetensors")
    save_file({k: v.float() if v.is_floating_point() else v for k, v in half.items()}, out / "model.safetensors",
              metadata={"format": "pt"})
    (out / "model.fp16.safetensors").unlink()
    print(f"{out}: unpacked")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--archive", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.action == "pack":
        pack(args.model, args.data, args.out)
    else:
        unpack(args.archive, args.out)


if __name__ == "__main__":
    main()
