"""Where models and data come from: a local directory, or a hub id; one reading of which is which."""
from __future__ import annotations

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
