"""The offline demo profile: a tiny random DistilBERT and a synthetic sentiment set, both generated here.

`python -m rankcert.tools.demo DIR` builds a self-contained git+DVC workspace in DIR (project files, the demo
params, generated assets) and, unless --no-run, runs `dvc repro` there and commits the first certification.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from rankcert.errors import RankcertError, run_main
from rankcert.layout import LAYOUT

PROJECT = Path(__file__).resolve().parents[2]
WORKSPACE_FILES = ["dvc.yaml", "stages", "rankcert", "policies", "plots/templates"]
PROFILE = PROJECT / "profiles" / "demo.yaml"
# `dvc plots show` fills the page stage plots_page writes (relative to .dvc/, as DVC reads it): it renders offline
PLOTS_PAGE_CONFIG = ["dvc", "config", "plots.html_template", os.path.relpath(LAYOUT.plot_page, ".dvc")]

POSITIVE = "good great fine superb lovely moving charming brilliant warm funny gripping clever tender vivid".split()
NEGATIVE = "bad awful dull boring weak clumsy tedious bland messy flat stale hollow grim lifeless".split()
NEUTRAL = ("the a film movie story plot actor cast scene script music ending director it this was is "
           "and but with of its very quite rather somewhat").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def synthetic_sentiment(n: int, seed: int, label_noise: float = 0.05, labels: int = 2) -> pd.DataFrame:
    """`n` sentences of neutral words with sentiment words; label = the majority polarity (some noise). With
    `labels=3`, label 2 is a third class: sentences with no sentiment word at all."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, labels - 1)
        major, minor = (POSITIVE, NEGATIVE) if label == 1 else (NEGATIVE, POSITIVE)
        words = [rng.choice(NEUTRAL) for _ in range(rng.randint(4, 10))]
        cues = [rng.choice(major) for _ in range(rng.randint(1, 3))] if label < 2 else []
        cues += [rng.choice(minor) for _ in range(rng.randint(0, max(0, len(cues) - 1)))]
        for cue in cues:
            words.insert(rng.randint(0, len(words)), cue)
        if label < 2 and rng.random() < label_noise:
            label = 1 - label
        rows.append({"sentence": " ".join(words), "label": label})
    return pd.DataFrame(rows)


def write_demo_data(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    synthetic_sentiment(3000, seed=1).to_json(folder / "train.jsonl", orient="records", lines=True)
    synthetic_sentiment(600, seed=2).to_json(folder / "validation.jsonl", orient="records", lines=True)


def write_demo_model(folder: Path, seed: int = 0) -> None:
    """A randomly initialised 2-layer DistilBERT with a word-level vocabulary, saved as safetensors."""
    import torch
    from transformers import BertTokenizerFast, DistilBertConfig, DistilBertModel

    words = SPECIAL + sorted(set(POSITIVE + NEGATIVE + NEUTRAL))
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    config = DistilBertConfig(vocab_size=len(words), dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                              max_position_embeddings=64)
    torch.manual_seed(seed)
    model = DistilBertModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    model.save_pretrained(str(folder), safe_serialization=True)


def demo_params(assets: str = "assets") -> dict:
    """The canonical params.yaml with the demo profile's overrides applied."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    overrides = yaml.safe_load(PROFILE.read_text().replace("${assets}", assets))
    return deep_merge(params, overrides)


def deep_merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def create_workspace(folder: Path, params: dict | None = None, with_demo_assets: bool = True,
                     source: Path = PROJECT) -> Path:
    """A fresh git+DVC workspace holding the pipeline and `params` (default: the demo profile and its assets).

    `source` is the project tree the pipeline is copied from (another checkout, for before/after benchmarks).
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise RankcertError(f"{folder} is not empty; remove it or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    for name in WORKSPACE_FILES:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, folder / name)
    (folder / "params.yaml").write_text(yaml.safe_dump(params or demo_params(), sort_keys=False))
    (folder / ".gitignore").write_text("/assets/\n/data/\n/.rankcert-tmp/\n/dvc_plots/\n__pycache__/\n")
    if with_demo_assets:
        write_demo_model(folder / "assets" / "model")
        write_demo_data(folder / "assets" / "sst2")
    for command in (["git", "init", "-q", "-b", "main"], ["dvc", "init", "-q"],
                    ["dvc", "config", "core.autostage", "true"], PLOTS_PAGE_CONFIG):
        subprocess.run(command, cwd=folder, check=True)
    shutil.copy2(source / ".dvcignore", folder / ".dvcignore")  # Python's caches must not change the code deps
    commit_all(folder, "demo workspace")
    return folder


def commit_all(folder: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "-c", "user.name=rankcert", "-c", "user.email=rankcert@localhost",
                    "commit", "-q", "-m", message], cwd=folder, check=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where to create the demo workspace (must be empty or new)")
    parser.add_argument("--no-run", action="store_true", help="only create the workspace")
    args = parser.parse_args(argv)
    folder = create_workspace(args.folder)
    print(f"demo workspace ready in {folder}", flush=True)
    if not args.no_run:
        result = subprocess.run(["dvc", "repro"], cwd=folder)
        if result.returncode != 0:
            sys.exit(result.returncode)
        # the first certification is committed: `dvc metrics diff` and `dvc exp show` compare against it
        commit_all(folder, "first certification (dvc repro)")
        print(f"\ndone: read {folder}/metrics/report.md, or run `dvc metrics show` / `dvc plots show` there; "
              "the results are committed, so `dvc metrics diff` shows what a change does")


if __name__ == "__main__":
    run_main(main)
