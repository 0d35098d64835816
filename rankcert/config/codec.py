"""The one way between typed records (frozen dataclasses) and JSON or YAML data: params, the records stages hand
each other, the policy and the certificate all go through it.

load() builds a record from data, checking every key and type on the way down: an unknown key (with a did-you-mean),
a missing one or a value of the wrong type is one line naming it by its dotted path. dump() is the inverse: fields by
name, enums by value, dict keys as text; a field that has a default and is left at it is not written (a file holds
the keys that say something), a field without one always is, null included. read() and text() are a JSON file's
two directions. Standard library only: the pre-release gate's CI job has no torch, pandas or scipy.
"""
from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

from rankcert.config.variants import Variant, parse_variant
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.outputs import to_json
from rankcert.runtime.text import quoted

Record = TypeVar("Record")
# a number written as text: ASCII digits only, no spaces or underscores (float() would take "١", " 1", "1_0")
FLOAT_TEXT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:nan|inf|infinity)", re.IGNORECASE)


def load(kind: Any, raw: Any, where: str = "") -> Any:
    """`raw` (parsed JSON or YAML) as `kind`: a record, list[X], dict[K, V], X | Y, a Literal, an enum or a plain
    type, checked all the way down; `where` is the dotted path errors name (empty: the top of a file)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return _union(typing.get_args(kind), raw, where)
    if kind is Variant:
        return parse_variant(raw)
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if raw not in choices:
            raise RankcertError(f"{where} must be {_one_of(choices)}, not {quoted(raw)}")
        return raw
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(raw)
        except ValueError:
            raise RankcertError(f"{where} must be {_one_of([m.value for m in kind])}, not {quoted(raw)}") from None
    if dataclasses.is_dataclass(kind):
        return _record(kind, raw, where)
    if typing.get_origin(kind) is dict:
        return _mapping(*typing.get_args(kind), raw, where)
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if not isinstance(raw, list):
            raise RankcertError(f"{where} must be a list, not {quoted(raw)}")
        return [load(item, v, f"{where}[{i}]") for i, v in enumerate(raw)]
    return _plain(kind, raw, where)


def dump(value: Any) -> Any:
    """`value` as JSON data: a record's fields by name (one left at its default left out), enums by value, dict keys
    as text."""
    if dataclasses.is_dataclass(value):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value) if not _at_default(value, f)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    return value


def text(record: Any) -> str:
    """The record's JSON file contents (stable: sorted keys, so the same record is the same bytes)."""
    return to_json(dump(record))


def read_json(path: Path, fix: str) -> Any:
    """The JSON data in `path`; a missing or damaged file is one line ending in `fix`."""
    try:
        found = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RankcertError(f"{path} not found; {fix}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RankcertError(f"{path} is not readable ({one_line(err)[:80]}); {fix}") from err
    return parse_json(found, str(path), fix)


def parse_json(found: str, where: str, fix: str) -> Any:
    """JSON text (from `where`, a file or a file at a revision) as data; text that isn't JSON is one line."""
    try:
        return json.loads(found)
    except ValueError as err:
        raise RankcertError(f"{where} is not JSON ({one_line(err)[:80]}); {fix}") from err


def read(path: Path, kind: type[Record], what: str, fix: str) -> Record:
    """The record of type `kind` (`what`, in words) in the JSON file `path`; each problem one line ending in `fix`."""
    return loaded(kind, read_json(path, fix), str(path), what, fix)


def loaded(kind: type[Record], raw: Any, where: str, what: str, fix: str) -> Record:
    """`raw`, the data of file `where`, as `kind`: a file of another shape is one line saying which key and `fix`."""
    try:
        return load(kind, raw)
    except RankcertError as err:
        raise RankcertError(f"{where} is not the {what} this rankcert writes ({err}: written by another version, or "
                            f"edited); {fix}") from err


def _record(kind: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise RankcertError(f"{where or 'the file'} must be a mapping of keys, not {type(raw).__name__}")
    hints = typing.get_type_hints(kind)
    fields = [f for f in dataclasses.fields(kind) if f.init]
    names = [f.name for f in fields]
    for key in raw:
        if key not in names:
            guess = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else f"; known keys: {', '.join(names)}"
            raise RankcertError(f"unknown key {_join(where, key)!r}{hint}")
    values = {}
    for f in fields:
        if f.name in raw:
            values[f.name] = load(hints[f.name], raw[f.name], _join(where, f.name))
        elif not _optional(f):
            raise RankcertError(f"missing key {_join(where, f.name)!r}")
    return kind(**values)


def _mapping(key: Any, item: Any, raw: Any, where: str) -> dict:
    if not isinstance(raw, dict):
        raise RankcertError(f"{where} must be a mapping, not {quoted(raw)}")
    found = {_key(key, k, where): load(item, v, _join(where, k)) for k, v in raw.items()}
    return dict(sorted(found.items())) if key is int else found  # numeric order, which JSON's text keys can't keep


def _key(kind: Any, key: Any, where: str) -> Any:
    if kind is int and isinstance(key, str) and re.fullmatch(r"-?[0-9]+", key):
        return int(key)  # JSON writes every key as text
    return load(kind, key, f"{where} key")


def _union(arms: tuple, raw: Any, where: str) -> Any:
    """The first arm `raw` is; when it is none, one line listing what it may be (a value of an arm's shape that
    is wrong inside says where, as that arm would)."""
    if raw is None and type(None) in arms:
        return None
    wanted, head = [], f"{where} must be "
    for arm in arms:
        if arm is type(None):
            wanted.append("null")
            continue
        try:
            return load(arm, raw, where)
        except RankcertError as err:
            if not str(err).startswith(head):
                raise
            wanted.append(str(err)[len(head):].rsplit(", not ", 1)[0])
    raise RankcertError(f"{where} must be {' or '.join(wanted)}, not {quoted(raw)}")


def _plain(kind: Any, raw: Any, where: str) -> Any:
    if kind is bool:
        if not isinstance(raw, bool):
            raise RankcertError(f"{where} must be true or false, not {quoted(raw)}")
        return raw
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise RankcertError(f"{where} must be an integer, not {quoted(raw)}")
        return raw
    if kind is float:
        return _as_float(raw, where)
    if kind is str:
        if not isinstance(raw, str) or not raw.strip():
            raise RankcertError(f"{where} must be a non-empty string, not {quoted(raw)}")
        return raw
    if kind is type(None):
        if raw is not None:
            raise RankcertError(f"{where} must be null, not {quoted(raw)}")
        return None
    raise TypeError(f"unsupported record field type {kind!r}")  # a bug in a record, not user input


def _as_float(raw: Any, where: str) -> float:
    # `5e-5` is a number in YAML 1.2 but text in YAML 1.1; a quoted number is accepted too, for files written
    # by YAML 1.1 tools.
    if isinstance(raw, bool):
        raise RankcertError(f"{where} must be a number, not {quoted(raw)}")
    if isinstance(raw, int | float) or (isinstance(raw, str) and FLOAT_TEXT.fullmatch(raw)):
        number = float(raw)
    else:
        raise RankcertError(f"{where} must be a number, not {quoted(raw)}")
    if number != number or number in (float("inf"), float("-inf")):
        raise RankcertError(f"{where} must be a finite number, not {quoted(raw)}")
    return number


def _optional(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _at_default(record: Any, f: dataclasses.Field) -> bool:
    if not _optional(f):
        return False
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return getattr(record, f.name) == default


def _one_of(choices: typing.Sequence) -> str:
    if len(choices) == 1:
        return str(choices[0])
    return ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)
