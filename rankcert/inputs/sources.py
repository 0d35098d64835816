"""Where models and data come from: a local directory, or a hub id; one reading of which is which."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS


def looks_like_path(name: str) -> bool:
    """A name that can only be meant as a path (a hub id is `name` or `owner/name`)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def is_local(name: str, key: str, what: str) -> bool:
    """True for an existing directory; False for a hub id; an error for a path that isn't a directory."""
    if Path(name).is_dir():
        return True
    if looks_like_path(name):
        raise RankcertError(f"{key} {name!r} is not a directory; point it at a {what}")
    return False


def hub_revision(name: str, revision: str, key: str, what: str) -> str | None:
    """The revision to ask the hub for: `revision` for a hub id, None for a local folder (which has none)."""
    return None if is_local(name, key, what) else revision


def hub_error(name: str, err: Exception) -> RankcertError:
    """Loading model `name` failed: one line that says what to do when the hub is out of reach."""
    return RankcertError(
        f"cannot load model {name!r} ({type(err).__name__}: {one_line(err)[:160]}); "
        "if the hub is unreachable, set model.name to a local model directory"
    )


def check_model_limits(name: str, max_length: int) -> None:
    """A local model's config must allow model.max_length tokens (a hub model is checked when it loads)."""
    positions, config = _positions(name)
    if positions is not None and max_length > positions:
        raise RankcertError(f"model.max_length {max_length} exceeds the model's max_position_embeddings {positions} "
                            f"({config}); lower model.max_length")


def check_sequence_width(name: str, width: int, path: Path) -> None:
    """Prepared sequences must fit the model: a stage run on its own, without validate, checks what it reads."""
    positions, config = _positions(name)
    if positions is not None and width > positions:
        raise RankcertError(f"{path} holds sequences of {width} tokens but the model takes at most {positions} "
                            f"(max_position_embeddings, {config}); lower model.max_length and rerun prepare")


def _positions(name: str) -> tuple[int | None, Path]:
    """(max_position_embeddings, config path) of a local model; None when unknown (a hub model, no config)."""
    config = Path(name) / "config.json"
    if not is_local(name, "model.name", "saved model folder") or not config.is_file():
        return None, config
    try:
        found = json.loads(config.read_text(encoding="utf-8"))
        positions = found.get("max_position_embeddings", found.get("n_positions"))  # GPT-2 names it n_positions
    except (ValueError, UnicodeDecodeError) as err:
        raise RankcertError(f"{config} is not valid JSON; the model folder is damaged") from err
    return (positions if isinstance(positions, int) else None), config


def folder_fingerprint(folder: Path) -> dict[str, str]:
    """Relative file name -> sha256, for every file below `folder` (hidden ones too), sorted."""
    if not folder.is_dir():
        raise RankcertError(f"{folder} is not a folder; inputs lists local model and data folders")
    return {path.relative_to(folder).as_posix(): file_sha256(path)
            for path in sorted(p for p in folder.rglob("*") if p.is_file())}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks (model weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


ADAPTER_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)  # what decides an adapter's predictions


def adapter_digest(folder: Path) -> str:
    """sha256 over a saved adapter's config and weights (names included): the adapter's identity, recorded
    where it is written (run.json), where it is evaluated (its metrics) and in the certificate."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        path = folder / name
        if not path.is_file():
            raise RankcertError(f"{folder} has no {name}; rerun the stage that writes it (dvc repro)")
        digest.update(name.encode() + b"\0" + file_sha256(path).encode() + b"\0")
    return digest.hexdigest()


def check_tracked(name: str, key: str, inputs: dict[str, str]) -> None:
    """A local folder used by the run must be listed in `inputs`, so that DVC re-checks its bytes."""
    if not Path(name).is_dir():
        return
    listed = {os.path.realpath(path) for path in inputs.values()}
    if os.path.realpath(name) not in listed:
        raise RankcertError(f"{key} {name!r} is a local folder that DVC doesn't track; add it to params.yaml "
                            f"`inputs` (e.g. inputs: {{{key.split('.')[0]}: {name}}})")
