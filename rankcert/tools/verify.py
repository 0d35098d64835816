"""rankcert verify: re-derive every figure of a release's certificate from its predictions and run records.

    python -m rankcert.tools.verify [--root DIR] [--pull]        (make verify VERIFY_ARGS="--pull")

Reads the committed certificate (metrics/certify.json, certify_details.json), the declared plan and its looks,
and the DVC-tracked predictions, evaluation and run records, manifests and adapter files (--pull fetches them
first with `dvc pull`), recomputes every figure through its own assembly (rankcert.verification; only the
statistics' definitions are certify's), compares them section by section, and where dvc.lock is present checks
with `dvc status` that the workspace is the data certify read. Prints `verified` and what was checked (exit 0),
or the first mismatch in one line (exit 1); bad input (no repository, a file not pulled, a failed pull) is one
line on stderr (exit 2). No GPU, no model: seconds on a laptop (docs/verify.md).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rankcert.config.entrypoint import run_main
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.verification import checks, workspace
from rankcert.verification.derive import derive

NOT_REDERIVED = "the reasons' wording (their kinds are), the report and its plots (docs/verify.md)"


def verify(root: Path) -> str:
    """The summary of what was checked; raises workspace.Mismatch at the first figure that differs."""
    release = workspace.read(root)
    derived = derive(release)
    tally = checks.Tally(release)
    for section in checks.SECTIONS:
        section(release, derived, tally)
    lock = check_lock(root)
    return (f"verified: {len(derived.seeds)} seeds, {len(derived.variants)} variants, {tally.figures} figures "
            f"re-derived from {len(release.adapters)} adapters' predictions, records and files; {lock}; "
            f"not re-derived: {NOT_REDERIVED}")


def check_lock(root: Path) -> str:
    """With a dvc.lock: `dvc status certify` must find certify's inputs and outputs as the lock records them."""
    if not (root / "dvc.lock").is_file():
        return "no dvc.lock, so the data was not checked against a release"
    changes = json.loads(dvc(root, "status", "--json", "certify") or "{}")
    if changes:
        raise workspace.Mismatch(f"dvc.lock: the workspace is not what certify read ({_changes(changes)}); "
                                 "`dvc checkout` restores the release's data")
    return "the data is what dvc.lock records certify read"


def dvc(root: Path, *command: str) -> str:
    """`dvc <command>` in `root` (this Python's DVC); a failure is bad input."""
    result = subprocess.run([sys.executable, "-m", "dvc", *command], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise RankcertError(f"`dvc {' '.join(command)}` failed in {root}: {one_line(result.stderr or result.stdout)[-300:]}")
    return result.stdout


def _changes(status: dict) -> str:
    """'data/eval modified, metrics/certify.json modified' from `dvc status --json`."""
    found = []
    for changes in status.values():
        for change in changes if isinstance(changes, list) else [changes]:
            if isinstance(change, str):
                found.append(change)
                continue
            for items in change.values():
                found += [f"{path} {state}" for path, state in items.items()] if isinstance(items, dict) else [str(items)]
    return ", ".join(found)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository, at the release (default: here)")
    parser.add_argument("--pull", action="store_true", help="`dvc pull` the predictions and records first")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not root.is_dir():
        raise RankcertError(f"{args.root} is not a folder: pass --root the repository")
    if args.pull:
        dvc(root, "pull")
    try:
        print(verify(root), flush=True)
    except workspace.Mismatch as err:
        print(f"mismatch: {one_line(err)}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
