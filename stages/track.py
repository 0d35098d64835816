"""Stage track (per local input): a fingerprint of a local model or data folder that DVC re-hashes on status.

The folder itself is this stage's dependency (dvc.yaml: `deps: ["${item}"]`), so changing any byte of it makes
`dvc status` report it and `dvc repro` rerun every stage that uses it. The fingerprint names files and their
sha256 only, not the folder's path, so clones that keep the inputs elsewhere share run-cache entries.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankcert.config import records
from rankcert.config.entrypoint import command_line, run_main
from rankcert.config.records import Tracked
from rankcert.inputs.sources import folder_fingerprint
from rankcert.runtime.outputs import write_text


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_line(__doc__)
    parser.add_argument("--source", type=Path, required=True, help="a local model or data folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    files = folder_fingerprint(args.source)
    write_text(args.out, records.text(Tracked(files)))
    print(f"[track] {args.source}: {len(files)} file(s) fingerprinted", flush=True)


if __name__ == "__main__":
    run_main(main)
