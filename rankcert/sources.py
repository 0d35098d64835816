"""Where models and data come from: a local directory, or a hub id; one reading of which is which."""
from __future__ import annotations

import json
from pathlib import Path

from rankcert.errors import RankcertError


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


def check_model_limits(name: str, max_length: int) -> None:
    """A local model's config must allow model.max_length tokens (a hub model is checked when it loads)."""
    config = Path(name) / "config.json"
    if not is_local(name, "model.name", "saved model folder") or not config.is_file():
        return
    try:
        positions = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    except (ValueError, UnicodeDecodeError) as err:
        raise RankcertError(f"{config} is not valid JSON; the model folder is damaged") from err
    if isinstance(positions, int) and max_length > positions:
        raise RankcertError(f"model.max_length {max_length} exceeds the model's max_position_embeddings {positions} "
                            f"({config}); lower model.max_length")
