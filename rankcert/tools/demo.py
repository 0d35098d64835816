"""The offline demo profiles: a tiny random model and a synthetic sentiment set, both generated here.

`python -m rankcert.tools.demo DIR` builds a self-contained git+DVC workspace in DIR (project files, the demo
params, generated assets) and, unless --no-run, runs `dvc repro` there and commits the first certification.
`--profile llama` or `--profile gpt2` certifies a tiny decoder (a Llama- or GPT-2-shaped model whose tokenizer
has no pad token) instead of the tiny DistilBERT; `--profile adapter` first trains a LoRA adapter on the tiny
DistilBERT the way a user would and certifies cuts of it (probe.adapter): profiles/<name>.yaml, applied over
profiles/demo.yaml.
"""
from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from rankcert.config.entrypoint import run_main
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT

PROJECT = Path(__file__).resolve().parents[2]
WORKSPACE_FILES = ["dvc.yaml", "seeds", "stages", "rankcert", "policies", "plots/templates"]
PROFILES = PROJECT / "profiles"
DECODERS = ("llama", "gpt2")
PROFILE_NAMES = ("demo", *DECODERS, "adapter")
USER_RECIPE = {"steps": 200, "batch_size": 16, "lr": 1e-3, "seed": 7}  # how the adapter profile's "user" trains
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


def write_decoder_model(folder: Path, family: str, seed: int = 0, padding_side: str = "right") -> None:
    """A randomly initialised 2-layer decoder, Llama-shaped (RoPE, grouped-query attention, BOS prepended) or
    GPT-2-shaped (absolute positions, Conv1D layers, no BOS), with a word-level tokenizer that has no pad token,
    as decoder checkpoints usually ship; saved as safetensors."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import GPT2Config, GPT2Model, LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    if family not in DECODERS:
        raise RankcertError(f"no tiny decoder {family!r}; choose one of {', '.join(DECODERS)}")
    llama = family == "llama"
    special = ["<unk>", "<s>", "</s>"] if llama else ["<unk>", "<|endoftext|>"]
    words = special + sorted(set(POSITIVE + NEGATIVE + NEUTRAL))
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if llama:
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    eos = special[-1]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token=special[1],
                                        eos_token=eos, padding_side=padding_side)
    if llama:
        config = LlamaConfig(vocab_size=len(words), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             bos_token_id=1, eos_token_id=2)
    else:
        config = GPT2Config(vocab_size=len(words), n_embd=64, n_layer=2, n_head=4, n_positions=64,
                            bos_token_id=1, eos_token_id=1)
    torch.manual_seed(seed)
    model = (LlamaModel if llama else GPT2Model)(config)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    model.save_pretrained(str(folder), safe_serialization=True)


def model_writer(profile: str):
    """The function that writes `profile`'s generated model into a folder."""
    return functools.partial(write_decoder_model, family=profile) if profile in DECODERS else write_demo_model


def write_user_adapter(workspace: Path, params: dict) -> None:
    """The adapter `params`' probe.adapter names, trained on its model and train data the way a user would (PEFT
    and a plain PyTorch loop, USER_RECIPE; none of rankcert's training), at its probe.rank and probe.alpha, and
    saved as a PEFT folder whose base_model_name_or_path is model.name as the workspace names it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rankcert.training.modeling import save_adapter

    model, probe, recipe = params["model"], params["probe"], USER_RECIPE
    torch.manual_seed(recipe["seed"])
    tokenizer = AutoTokenizer.from_pretrained(str(workspace / model["name"]))
    base = AutoModelForSequenceClassification.from_pretrained(str(workspace / model["name"]),
                                                              num_labels=model["num_labels"])
    adapter = get_peft_model(base, LoraConfig(r=probe["rank"], lora_alpha=probe["alpha"], task_type="SEQ_CLS",
                                              target_modules=model["target_modules"],
                                              modules_to_save=model["head_modules"]))
    rows = pd.read_json(workspace / params["data"]["source"] / "train.jsonl", lines=True)
    encoded = tokenizer(list(rows["sentence"]), padding="max_length", truncation=True, max_length=model["max_length"],
                        return_tensors="pt")
    labels = torch.tensor(rows["label"].to_numpy())
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=recipe["lr"])
    draw = random.Random(recipe["seed"])
    adapter.train()
    for _ in range(recipe["steps"]):
        batch = torch.tensor([draw.randrange(len(rows)) for _ in range(recipe["batch_size"])])
        mask = encoded["attention_mask"][batch]
        width = int(mask.sum(dim=1).max())
        adapter(input_ids=encoded["input_ids"][batch, :width], attention_mask=mask[:, :width],
                labels=labels[batch]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    adapter.peft_config["default"].base_model_name_or_path = model["name"]
    with warnings.catch_warnings():  # PEFT looks for the base's config at that name, relative to here: not needed
        warnings.filterwarnings("ignore", message="Could not find a config file", category=UserWarning)
        save_adapter(adapter, workspace / probe["adapter"])


def demo_params(assets: str = "assets", profile: str = "demo") -> dict:
    """The canonical params.yaml with the demo profile's overrides applied (and a decoder profile's over them)."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for name in dict.fromkeys(["demo", profile]):
        overrides = yaml.safe_load((PROFILES / f"{name}.yaml").read_text().replace("${assets}", assets))
        params = deep_merge(params, overrides)
    return params


def deep_merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def create_workspace(folder: Path, params: dict | None = None, with_demo_assets: bool = True,
                     source: Path = PROJECT, profile: str = "demo") -> Path:
    """A fresh git+DVC workspace holding the pipeline and `params` (default: `profile`'s, with its assets).

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
    params = params or demo_params(profile=profile)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (folder / ".gitignore").write_text("/assets/\n/data/\n/.rankcert-tmp/\n/dvc_plots/\n__pycache__/\n")
    if with_demo_assets:
        model_writer(profile)(folder / "assets" / "model")
        write_demo_data(folder / "assets" / "sst2")
        if params["probe"].get("adapter"):  # the adapter profile: the "user's" adapter, trained before the pipeline
            write_user_adapter(folder, params)
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
    parser.add_argument("--profile", choices=PROFILE_NAMES, default="demo",
                        help="the generated model: the tiny DistilBERT (demo), a tiny decoder, or the tiny DistilBERT "
                             "with a LoRA adapter trained first, whose cuts are certified (adapter)")
    args = parser.parse_args(argv)
    folder = create_workspace(args.folder, profile=args.profile)
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
