"""The project files a stage entry point imports, transitively: what its dvc.yaml `deps` must list.

    python -m rankcert.runtime.deps stages/probe.py      # one entry point's closure, a path per line
"""
from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from pathlib import Path

PROJECT_PACKAGES = ("rankcert", "stages")


def imported_modules(file: Path) -> set[str]:
    """Dotted names of every module `file` imports, anywhere in it (lazy imports inside functions too)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return found


def module_file(root: Path, name: str) -> Path | None:
    """The project file of module `name`, or None when it is not the project's (or not a module)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def closure(root: Path, entry: Path) -> list[str]:
    """Sorted paths (relative to `root`) of `entry` and every project module it reaches, package inits included."""
    seen: set[Path] = set()
    todo = [root / entry]
    package = (root / entry).parent
    while (package / "__init__.py").is_file():  # `python -m stages.probe` runs stages/__init__ first
        todo.append(package / "__init__.py")
        package = package.parent
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        for name in imported_modules(file):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found = module_file(root, ".".join(parts[:depth]))
                if found and found not in seen:
                    todo.append(found)
    return sorted(str(p.relative_to(root)) for p in seen)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entry", type=Path, nargs="+", help="stage entry point files, relative to the project root")
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    for entry in args.entry:
        print("\n".join(closure(args.root.resolve(), entry)))


if __name__ == "__main__":
    main()
