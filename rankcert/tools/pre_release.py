"""The pre-release gate: pipeline up to date, run certified, no regression against the last release.

    python -m rankcert.tools.pre_release [--rev REV] [--tag-pattern 'v*'] [--allow-missing-data]

Fails (exit 1) when `dvc status` shows changed code, params or data; when metrics/certify.json is not
certified; or when, against REV (default: the newest tag matching the pattern, not on HEAD), a variant's
SAFE/UNSAFE status flips or its worst Δ drops by more than release.max_worst_delta_drop. Prints the
`dvc metrics diff` as markdown. Every failure line names the variant, the seed and the numbers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rankcert.errors import RankcertError, one_line, run_main
from rankcert.params import load_params
from rankcert.text import pts

CERTIFY = "metrics/certify.json"
MISSING_DATA = {"deleted", "not in cache"}


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RankcertError(f"`{' '.join(command)}` failed: {one_line(result.stderr)[:300]}")
    return result.stdout


def stale_stages(status: dict, allow_missing_data: bool) -> list[str]:
    """Stages whose code, params or inputs changed since the committed results (from `dvc status --json`)."""
    stale = []
    for stage, changes in status.items():
        reasons = []
        for change in changes if isinstance(changes, list) else [changes]:
            if isinstance(change, str):
                reasons.append(change)
                continue
            for kind, items in change.items():
                for path, state in (items.items() if isinstance(items, dict) else [(kind, items)]):
                    if allow_missing_data and state in MISSING_DATA:
                        continue
                    reasons.append(f"{kind}: {path} {state}")
        if reasons:
            stale.append(f"{stage} ({'; '.join(reasons)})")
    return stale


def last_release(pattern: str) -> str | None:
    """Newest tag matching `pattern` reachable from HEAD, skipping tags on HEAD itself."""
    head = _run("git", "rev-parse", "HEAD").strip()
    for tag in _run("git", "tag", "--list", pattern, "--merged", "HEAD", "--sort=-creatordate").split():
        if _run("git", "rev-list", "-n", "1", tag).strip() != head:
            return tag
    return None


def _worst_seed(variant: dict) -> str:
    seeds = {name: s for name, s in variant.get("seeds", {}).items() if s.get("delta") is not None}
    if not seeds:
        return "no measured seed"
    name, s = min(seeds.items(), key=lambda item: item[1]["delta"])
    return f"{name.replace('_', ' ')} Δ {100 * s['delta']:+.1f} points"


def regressions(old: dict, new: dict, max_drop: float) -> list[str]:
    """Status flips and worst-Δ drops between two certify.json payloads."""
    found = []
    for name, now in new.get("variants", {}).items():
        before = old.get("variants", {}).get(name)
        if before is None:
            continue
        if before.get("status") != now.get("status"):
            found.append(f"{name}: status flipped {before.get('status')} → {now.get('status')} (worst Δ "
                         f"{pts(before.get('worst_delta'))} → {pts(now.get('worst_delta'))}; {_worst_seed(now)})")
        old_w, new_w = before.get("worst_delta"), now.get("worst_delta")
        if old_w is not None and new_w is not None and old_w - new_w > max_drop + 1e-9:
            found.append(f"{name}: worst Δ dropped {100 * (old_w - new_w):.1f} points ({pts(old_w)} → {pts(new_w)}), "
                         f"more than the allowed {100 * max_drop:.1f}; {_worst_seed(now)}")
    return found


def side_of(flat_diff: dict, side: str) -> dict:
    """The nested `old` or `new` metrics rebuilt from dvc's flattened diff keys ("variants.x.status")."""
    nested: dict = {}
    for key, change in flat_diff.items():
        *parents, last = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = change.get(side)
    return nested


def not_certified(result: dict) -> list[str]:
    if result.get("certified") is True:
        return []
    lines = [f"not certified: level {result.get('level')}, probe gate "
             f"{'passed' if result.get('probe', {}).get('gate_passed') else 'FAILED'}, "
             f"{result.get('policy', {}).get('claims_contradicted')} policy claim(s) contradicted, "
             f"{result.get('policy', {}).get('claims_unsettled')} unsettled"]
    for name, v in result.get("variants", {}).items():
        failed = [f"{seed.replace('_', ' ')} {s['status']} (Δ {pts(s.get('delta'))})"
                  for seed, s in v.get("seeds", {}).items() if not s.get("passed")]
        if failed:
            lines.append(f"{name} is {v.get('status')}: " + ", ".join(failed))
        found = v.get("population") or {}
        if found.get("verdict") == "UNSETTLED":
            lines.append(f"{name}'s population verdict is UNSETTLED at {found.get('seeds')} seeds (lower limit "
                         f"{pts(found.get('lower'))}): `make settle` adds seeds until it settles")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="compare with this revision instead of the last release tag")
    parser.add_argument("--tag-pattern", default="v*")
    parser.add_argument("--allow-missing-data", action="store_true",
                        help="accept outputs missing from the workspace (CI without a DVC remote)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    failures = [f"pipeline not up to date: {s}" for s in
                stale_stages(json.loads(_run("dvc", "status", "--json") or "{}"), args.allow_missing_data)]
    if not Path(CERTIFY).is_file():
        raise RankcertError(f"{CERTIFY} not found; run `dvc repro` first")
    current = json.loads(Path(CERTIFY).read_text())
    failures += not_certified(current)
    rev = args.rev or last_release(args.tag_pattern)
    if rev is None:
        print(f"no earlier release tag matching {args.tag_pattern!r}: nothing to compare with")
    else:
        print(f"## dvc metrics diff {rev} → workspace\n")
        print(_run("dvc", "metrics", "diff", rev, "--md", "--targets", CERTIFY) or "(no change)\n")
        # `dvc metrics diff` exits 0 whatever it finds: the verdict comes from its JSON.
        diff = json.loads(_run("dvc", "metrics", "diff", rev, "--json", "--all", "--targets", CERTIFY) or "{}")
        old = side_of(diff.get(CERTIFY, {}), "old")
        failures += regressions(old, current, params.release.max_worst_delta_drop)
    for line in failures:
        print(f"FAIL {line}")
    if failures:
        sys.exit(1)
    print("pre-release check passed: pipeline up to date, certified, no regression"
          + (f" against {rev}" if rev else ""))


if __name__ == "__main__":
    run_main(main)
