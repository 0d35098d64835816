"""Helpers shared by the tests: the project root, shell commands in temporary repos, reading stage runs."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from rankcert.runtime.layout import stage_name

PROJECT = Path(__file__).resolve().parent.parent


def prepare_seeds(root: Path, raw_params: dict, seeds, steps: int, log_every: int, **sections) -> dict:
    """params.yaml in `root` (the cwd) with a short recipe, dropout on (every step draws from the RNG) and one CPU
    thread, `sections` merged in (e.g. variants=[...]); each seed prepared. Returns the params written."""
    import yaml

    from stages import prepare

    raw_params["train"].update(steps=steps, log_every=log_every)
    raw_params["probe"]["dropout"] = 0.1
    raw_params["runtime"]["cpu_threads"] = 1
    raw_params.update(sections)
    (root / "params.yaml").write_text(yaml.safe_dump(raw_params))
    for seed in seeds:
        prepare.main(["--seed", str(seed)])
    return raw_params


def pipeline_stages() -> dict:
    """Every stage the pipeline declares, by name: the root dvc.yaml's and each per-seed kind's."""
    import yaml

    from rankcert.runtime.layout import LAYOUT

    return {name: stage for path in LAYOUT.pipeline_files
            for name, stage in yaml.safe_load((PROJECT / path).read_text())["stages"].items()}


def rule(**overrides):
    """The certify section of params.yaml (the rule), with `overrides`."""
    from rankcert.config.params import load_params

    return dataclasses.replace(load_params(PROJECT / "params.yaml").certify, **overrides)


def set_in(tree: dict, keys: list[str], value) -> None:
    """tree[keys[0]]...[keys[-1]] = value (a params file's or a certificate's nested key)."""
    for key in keys[:-1]:
        tree = tree[key]
    tree[keys[-1]] = value


def sh(cwd: Path, *command: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `command` in `cwd`; with `check`, a failure raises with its whole output."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def terminal(columns: int = 160) -> dict[str, str]:
    """The environment of a terminal `columns` wide: DVC's tables fit themselves to COLUMNS."""
    return {**os.environ, "COLUMNS": str(columns)}


def commit(cwd: Path, message: str, tag: str | None = None) -> None:
    sh(cwd, "git", "add", "-A")
    sh(cwd, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    if tag:
        sh(cwd, "git", "tag", tag)


def ran_stages(output: str) -> list[str]:
    """Names of the stages `dvc repro` ran, in order (probe@42, certify)."""
    return [stage_name(line.split("'")[1]) for line in output.splitlines() if line.startswith("Running stage '")]


def touched_stages(output: str) -> list[str]:
    """Stages `dvc repro` ran or restored from the run-cache, in order."""
    return [stage_name(line.split("'")[1]) for line in output.splitlines()
            if line.startswith("Running stage '") or (line.startswith("Stage '") and "is cached" in line)]


def read_metrics(cwd: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cwd)): p.read_bytes() for p in sorted((cwd / "metrics").rglob("*.json"))}


def adapter_digests(ws: Path) -> dict[str, str]:
    """sha256 of every adapter file (weights and config) under ws/data."""
    files = sorted((ws / "data").rglob("adapter_model.safetensors")) + sorted((ws / "data").rglob("adapter_config.json"))
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def headless_browser() -> str | None:
    """A Chromium-family browser on PATH, or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def rendered_dom(browser: str, page: Path) -> str:
    """The page's DOM after its scripts ran, in a headless browser with every network request sent nowhere."""
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                             "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=20000", "--dump-dom",
                             page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"{browser} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def write_tiny_llama_gguf(path: Path, seed: int = 0) -> None:
    """A 2-layer Llama-shaped GGUF checkpoint as llama.cpp writes them: 2-D weights in Q4_1, norms in float32, and a
    byte-level BPE tokenizer (two merges) in the file's metadata."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    rng = np.random.default_rng(seed)
    tokens = ["<unk>", "<s>", "</s>", *"abcdefghijklmnopqrstuvwxyz", "Ġ", "ab", "Ġa"]
    hidden, ffn, layers, heads, kv_heads = 64, 128, 2, 4, 2
    writer = GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
    writer.add_token_merges(["a b", "Ġ a"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)

    def q4_1(name: str, shape: tuple[int, int]) -> None:
        weights = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        writer.add_tensor(name, quantize(weights, GGMLQuantizationType.Q4_1), raw_dtype=GGMLQuantizationType.Q4_1)

    def norm(name: str) -> None:
        writer.add_tensor(name, (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))

    kv = kv_heads * hidden // heads
    q4_1("token_embd.weight", (len(tokens), hidden))
    norm("output_norm.weight")
    for i in range(layers):
        norm(f"blk.{i}.attn_norm.weight")
        norm(f"blk.{i}.ffn_norm.weight")
        for name, shape in [("attn_q", (hidden, hidden)), ("attn_k", (kv, hidden)), ("attn_v", (kv, hidden)),
                            ("attn_output", (hidden, hidden)), ("ffn_gate", (ffn, hidden)), ("ffn_up", (ffn, hidden)),
                            ("ffn_down", (hidden, ffn))]:
            q4_1(f"blk.{i}.{name}.weight", shape)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def stand_in_training(params, seed: int, steps: int | None = None):
    """A records.Training as if the stage had trained `seed`'s adapter with `params` (fixtures write records
    without training); its sample fingerprint is the one stand_in_manifest gives the seed."""
    from rankcert.config.records import TRAINED, Training

    return Training(TRAINED, params.train.steps if steps is None else steps, params.data.train_size,
                    f"{seed:064d}", params.train)


def write_stand_in_run(run: Path, name: str, seed: int, base: str, training, model_type: str = "distilbert"):
    """run.json for the stand-in adapter in `run`/adapter, as write_adapter_run writes it: the AdapterRun."""
    from rankcert.config import records
    from rankcert.training import identity

    found = records.AdapterRun(**identity.record(name, seed, run / "adapter", base, training), model_type=model_type,
                               pad_token=records.PadToken("[PAD]", 0, "tokenizer"), trainable_parameters=1000,
                               python="3", packages={}, device="cpu")
    (run / "run.json").write_text(records.text(found))
    return found


def write_stand_in_manifest(folder: Path, params, seed: int, eval_rows: int, split_rows: int = 872) -> None:
    """prepare's manifest.json for a stand-in prepared folder: params' train sample drawn, `eval_rows` taken."""
    from rankcert.config import records

    manifest = records.Manifest(seed, params.data.source,
                                train=records.Sample(params.data.train_size, f"{seed:064d}", 64, positive=1),
                                eval=records.Sample(eval_rows, "f" * 64, 64, positive=eval_rows,
                                                    split_rows=split_rows))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(records.text(manifest))


DOCS = (PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md")))
FENCE = re.compile(r"^( *)```(.*)$")


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced shell block marked `bash runnable` (optionally `exit=N`): the tests run it in the demo workspace."""
    where: str  # file:line of its opening fence
    code: str
    exit: int


def fenced_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, code) of every fenced block in a Markdown file."""
    blocks, opened = [], None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = FENCE.match(line)
        if opened is None and fence:
            opened = (number, fence.group(2).strip(), len(fence.group(1)), [])
        elif opened is not None and fence and not fence.group(2).strip():
            blocks.append((opened[0], opened[1], "\n".join(opened[3])))
            opened = None
        elif opened is not None:
            opened[3].append(line[opened[2]:])
    assert opened is None, f"{path.name}:{opened[0]}: a fenced block is never closed"
    return blocks


def runnable_block(path: Path, line: int, info: str, code: str) -> Block | None:
    """The block as a Block when its info string marks it runnable; a marker it can't read fails."""
    words = info.split()
    if "runnable" not in words[1:]:
        return None
    where = f"{path.relative_to(PROJECT)}:{line}"
    assert words[:2] == ["bash", "runnable"], f"{where}: write the marker as 'bash runnable [exit=N]', not {info!r}"
    rest = words[2:]
    assert len(rest) <= 1 and all(re.fullmatch(r"exit=[0-9]+", w) for w in rest), f"{where}: unknown marker {rest}"
    return Block(where, code, int(rest[0].split("=")[1]) if rest else 0)


def runnable_blocks() -> list[Block]:
    """Every runnable shell block of README.md and docs/*.md, in reading order."""
    found = (runnable_block(path, *block) for path in DOCS for block in fenced_blocks(path))
    return [block for block in found if block is not None]
