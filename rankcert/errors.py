"""The project's error type and the one-line reporting every stage uses."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from rankcert import PROCESS_START, settings


class RankcertError(Exception):
    """A problem the user can fix; shown as one line, never as a traceback."""


def one_line(err: BaseException | str) -> str:
    """An exception's (or a text's) message on one line, for error text quoted inside ours."""
    return " ".join(str(err).split())


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
        stage = settings.dvc_stage()
        restore = (f" (DVC removed this stage's previous outputs before running it: `dvc checkout {stage}` brings "
                   "them back)") if stage and not keeps_outputs else ""
        print(f"rankcert: error: {err}{restore}", file=sys.stderr)
        sys.exit(2)


def _debugging() -> bool:
    try:
        return settings.debug()
    except RankcertError:  # a malformed RANKCERT_DEBUG is itself among the errors being reported
        return False
