"""YAML read as DVC reads it: YAML 1.2 through ruamel.yaml's safe loader, duplicate keys refused, aliases and
size bounded, and every failure one line that names the file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rankcert.runtime.errors import RankcertError, one_line

MAX_BYTES = 1 << 20  # params and policies are a few KB; anything near this is not one
MAX_ALIASES = 64  # a few anchors are fine; thousands are an expansion bomb


def read_yaml(path: str | Path, label: str, missing_hint: str) -> Any:
    """The data in YAML file `path`; `label` names it in errors ("params file", "policy")."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise RankcertError(f"{label} {path} not found; {missing_hint}") from err
    except IsADirectoryError as err:
        raise RankcertError(f"{label} {path} is a folder; point it at a YAML file") from err
    except OSError as err:
        raise RankcertError(f"{label} {path} can't be read: {err.strerror}") from err
    if len(data) > MAX_BYTES:
        raise RankcertError(f"{label} {path} is {len(data):,} bytes; at most {MAX_BYTES:,} are read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RankcertError(f"{label} {path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    return parse_yaml(text, f"{label} {path}")


def parse_yaml(text: str, where: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import AliasEvent

    yaml = YAML(typ="safe")  # what DVC uses for params: YAML 1.2 (010 is ten, `yes` is a string)
    try:
        aliases = sum(isinstance(event, AliasEvent) for event in yaml.parse(text))
        if aliases > MAX_ALIASES:
            raise RankcertError(f"{where} uses {aliases} aliases; at most {MAX_ALIASES} are allowed")
        return yaml.load(text)
    except YAMLError as err:
        problem = getattr(err, "problem", None) or "not valid YAML"
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise RankcertError(f"{where} is not valid YAML: {one_line(problem)[:200]}{at}") from err
