"""Every entry point's harness: the command line the stages share, and the run around a stage's (or a tool's) main
that turns a RankcertError into one line on stderr and exit code 2.

Device and seeding stay in the stages that train or evaluate (rankcert.training.modeling): here they would put torch in
every stage's import closure and start-up, the fingerprint and validate stages included.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from rankcert import PROCESS_START
from rankcert.config.params import Params, params_from_dict, read_params_yaml
from rankcert.config.stage_params import check_current
from rankcert.runtime import settings
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT


def command_line(doc: str | None, seed: bool = False, params: bool = False) -> argparse.ArgumentParser:
    """A stage's command line: its docstring as the help, --seed if it runs per seed and --params (default
    params.yaml) if it reads them; the stage adds its own options."""
    made = argparse.ArgumentParser(description=doc)
    if seed:
        made.add_argument("--seed", type=int, required=True)
    if params:
        made.add_argument("--params", type=Path, default=Path("params.yaml"))
    return made


class SeedStage(NamedTuple):
    """What a per-seed stage starts from; `label` ("probe@42") names its log lines and its GPU lease."""

    seed: int
    params: Params
    label: str


def per_seed(stage: str, doc: str | None, argv: Sequence[str] | None) -> SeedStage:
    """A per-seed stage's command line (--seed, --params) read, and its params loaded (and found to be what validate
    recorded for it, where it has)."""
    args = command_line(doc, seed=True, params=True).parse_args(argv)
    raw = read_params_yaml(args.params)
    params = params_from_dict(raw)
    check_current(raw, stage, LAYOUT.stage_params / f"{stage}.json")
    return SeedStage(args.seed, params, f"{stage}@{args.seed}")


def run_main(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None,
             keeps_outputs: bool = False) -> None:
    """Run a stage's main; turn a RankcertError into one line on stderr and exit 2.

    Every RANKCERT_* setting is checked first. Under `dvc repro` the line says how to get back the outputs DVC
    removed before the stage ran, unless the stage `keeps_outputs` (its outputs are `persist` in dvc.yaml).
    RANKCERT_DEBUG=1 shows the traceback instead.
    """
    try:
        settings.check()
        main(argv)
        name = getattr(sys.modules.get(main.__module__), "__spec__", None)
        label = name.name.split(".")[-1] if name else main.__module__
        started = settings.stage_start() or PROCESS_START
        print(f"[{label}] finished in {time.time() - started:.2f} s (start-up included)", flush=True)
    except RankcertError as err:
        if _debugging():
            raise
        print(error_line(err, settings.dvc_stage(), keeps_outputs), file=sys.stderr)
        sys.exit(2)


def error_line(err: RankcertError, dvc_stage: str | None, keeps_outputs: bool) -> str:
    """The one line a refused stage prints; under `dvc repro` (stage `dvc_stage`), how to get its outputs back."""
    restore = (f" (DVC removed this stage's previous outputs before running it: `dvc checkout {dvc_stage}` brings "
               "them back)") if dvc_stage and not keeps_outputs else ""
    return f"rankcert: error: {err}{restore}"


def _debugging() -> bool:
    try:
        return settings.debug()
    except RankcertError:  # a malformed RANKCERT_DEBUG is itself among the errors being reported
        return False
