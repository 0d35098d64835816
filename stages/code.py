"""Stage code: a fingerprint of the code each stage entry point runs, so a stage reruns exactly when it changes.

This stage depends on the `rankcert` and `stages` folders. For every entry point in stages/ it writes
data/code/<entry>.json: the sha256 of each project file the entry point imports, transitively
(rankcert.runtime.deps), and that stage depends on its file alone. An edit to report.py changes only
certify.json's bytes, so only certify reruns: the same exactness as listing the files in dvc.yaml, in one
lock entry per stage instead of about twenty (DVC rewrites a stage's lock file after every stage, so its size is
paid per stage).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankcert.config.entrypoint import command_line, run_main
from rankcert.inputs.sources import file_sha256
from rankcert.runtime.deps import closure
from rankcert.runtime.outputs import atomic_dir, write_json

THIS = Path(__file__).name


def entry_points(root: Path) -> list[Path]:
    """Every stage entry point (stages/*.py but the package init and this stage)."""
    return sorted(p.relative_to(root) for p in (root / "stages").glob("*.py") if p.name not in ("__init__.py", THIS))


def fingerprint(root: Path, entry: Path) -> dict[str, str]:
    """Project file -> sha256, for `entry` and everything it imports."""
    return {path: file_sha256(root / path) for path in closure(root, entry)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_line(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for one <entry>.json per entry point")
    args = parser.parse_args(argv)
    root = Path(".").resolve()
    entries = entry_points(root)
    with atomic_dir(args.out) as scratch:
        for entry in entries:
            write_json(scratch / f"{entry.stem}.json", {"entry": entry.as_posix(), "files": fingerprint(root, entry)})
    print(f"[code] {len(entries)} entry points fingerprinted: {', '.join(e.stem for e in entries)}", flush=True)


if __name__ == "__main__":
    run_main(main)
