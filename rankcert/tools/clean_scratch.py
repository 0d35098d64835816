"""Remove what ended runs left in .rankcert-tmp/: `make clean-scratch`.

    python -m rankcert.tools.clean_scratch [--checkpoints]

Every stage already clears the scratch of ended runs when it first writes; this is the same sweep on demand
(after a kill that the run-cache then restored, no stage may run for a while). Scratch of stages that are
running now stays: each holds a lock that says so. --checkpoints also removes the resumable training state
(RANKCERT_CHECKPOINT_EVERY), so a killed training starts over; run it while no training is running.
"""
from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence

from rankcert.config.entrypoint import run_main
from rankcert.runtime.outputs import SCRATCH, clear_stale_scratch


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", action="store_true", help="also remove resumable training state")
    args = parser.parse_args(argv)
    removed = [p for p in clear_stale_scratch() if p.parent == SCRATCH] if SCRATCH.is_dir() else []
    print(f"[clean-scratch] removed {len(removed)} scratch entr{'y' if len(removed) == 1 else 'ies'} of ended runs "
          f"from {SCRATCH}/; those of running stages stay", flush=True)
    checkpoints = SCRATCH / "checkpoints"
    if args.checkpoints and checkpoints.is_dir():
        count = sum(1 for _ in checkpoints.iterdir())
        shutil.rmtree(checkpoints)
        print(f"[clean-scratch] removed {count} training checkpoint(s) from {checkpoints}/", flush=True)


if __name__ == "__main__":
    run_main(main)
