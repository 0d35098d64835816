"""The pre-release gate: inputs valid, pipeline up to date, run certified, no regression against the last release.

    python -m rankcert.tools.pre_release [--rev REV] [--tag-pattern 'v*'] [--allow-missing-data] [--summary FILE]

Exit codes: 0 passed; 1 failed: a headline first ("NOT CERTIFIED: 3 reasons; 1 stage not up to date"), then one
`FAIL` line per fact: each stage whose own code, params or inputs changed (stages out of date only through it are
counted, not listed); each reason the certificate (the metrics files and the details) records that the run is not
certified, as certify decided and worded it (nothing is checked again here; a variant's claims are one reason),
a contradicted claim with both sides ("policy safe_uniform claims uniform_r24 is SAFE; observed UNSAFE: seed 123
Δ -3.6 points"); and, against REV (default: the newest tag matching the pattern, not on HEAD; its committed
metrics files), a status flip or a worst-Δ drop beyond release.max_worst_delta_drop. An UNSAFE the policy
expects is no failure. 2: bad input, nothing judged (params or policy that validate refuses, a certificate that
can't be read), in one line. Prints the `dvc metrics diff` as markdown (a verdict flip is a row of its own);
--summary appends the result, the diff and the report's verdict to FILE (CI: $GITHUB_STEP_SUMMARY).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from rankcert.certification import certificate
from rankcert.certification.certificate import Certificate, Metrics, VariantDetails
from rankcert.certification.words import ReasonKind, Safety
from rankcert.config.entrypoint import run_main
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.layout import LAYOUT, stage_name
from rankcert.runtime.text import pts
from rankcert.runtime.yamlfile import read_yaml
from rankcert.validation import check_inputs

CERTIFY = LAYOUT.certificate.as_posix()
TARGETS = (CERTIFY, LAYOUT.variant_metrics.as_posix())  # the metrics files: the run's, and one per variant
MISSING_DATA = {"deleted", "not in cache"}
VERDICT_SECTIONS = ("Frontier",)  # the report's table of every variant's verdict, for the CI summary


def _run(*command: str, check: bool = True) -> str | None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        if not check:
            return None
        raise RankcertError(f"`{' '.join(command)}` failed: {one_line(result.stderr)[:300]}")
    return result.stdout


def stage_changes(status: dict, allow_missing_data: bool) -> dict[str, list[tuple[str, str | None]]]:
    """Stage -> its changes from `dvc status --json`: (text, the path it is about, if any)."""
    found = {}
    for stage, changes in status.items():
        reasons = []
        for change in changes if isinstance(changes, list) else [changes]:
            if isinstance(change, str):
                reasons.append((change, None))
                continue
            for kind, items in change.items():
                for path, state in (items.items() if isinstance(items, dict) else [(kind, items)]):
                    if allow_missing_data and state in MISSING_DATA:
                        continue
                    if isinstance(state, dict):  # params: {"params.yaml": {"certify": "modified"}}
                        state = ", ".join(f"{key} {how}" for key, how in state.items())
                    reasons.append((f"{kind}: {path} {state}", path if isinstance(items, dict) else None))
        if reasons:
            found[stage] = reasons
    return found


def stale_stages(changes: dict[str, list[tuple[str, str | None]]], outputs: dict[str, list[str]]) -> tuple[list[str], int]:
    """(a line per stage whose own inputs changed, how many more are out of date only through those).

    A changed dependency that is (inside, or holds) an output of another out-of-date stage is that stage's doing:
    after a failed validate every stage reads "data/inputs modified", and only validate's own line says why.
    """
    stale_outs = [out for stage in changes for out in outputs.get(stage_name(stage), [])]
    own = {}
    for stage, reasons in changes.items():
        causes = [text for text, path in reasons if not (path and text.startswith("changed deps")
                                                          and any(_overlap(path, out) for out in stale_outs))]
        if causes:
            own[stage] = causes
    return [f"{stage_name(stage)} ({_grouped(causes)})" for stage, causes in own.items()], len(changes) - len(own)


def _grouped(causes: list[str]) -> str:
    """'changed outs: a deleted; changed outs: b deleted' as 'changed outs: a deleted, b deleted'."""
    kinds: dict[str, list[str]] = {}
    for cause in causes:
        kind, _, what = cause.partition(": ")
        kinds.setdefault(kind, []).append(what)
    return "; ".join(f"{kind}: {', '.join(whats)}" for kind, whats in kinds.items())


def _overlap(a: str, b: str) -> bool:
    pa, pb = PurePosixPath(a), PurePosixPath(b)
    return pa == pb or pb in pa.parents or pa in pb.parents


def lock_outputs(locks: list[Path]) -> dict[str, list[str]]:
    """Stage -> its output paths, from the lock files (what the committed results were made of)."""
    outputs = {}
    for lock in filter(Path.is_file, locks):
        stages = (read_yaml(lock, lock.as_posix(), "run `dvc repro`") or {}).get("stages", {})
        outputs |= {name: [out["path"] for out in stage.get("outs", [])] for name, stage in stages.items()}
    return outputs


def last_release(pattern: str) -> str | None:
    """Newest tag matching `pattern` reachable from HEAD, skipping tags on HEAD itself."""
    head = _run("git", "rev-parse", "HEAD").strip()
    for tag in _run("git", "tag", "--list", pattern, "--merged", "HEAD", "--sort=-creatordate").split():
        if _run("git", "rev-list", "-n", "1", tag).strip() != head:
            return tag
    return None


def _worst_seed(variant: VariantDetails) -> str:
    worst = variant.worst_seed()
    return "no measured seed" if worst is None else f"seed {worst[0]} Δ {pts(worst[1].delta)} points"


def _failed_seeds(variant: VariantDetails) -> str:
    """'seed 123 Δ -3.6 points, seed 456 MISSING': the seeds that did not pass."""
    failed = [f"seed {seed} " + (f"Δ {pts(s.delta)} points" if s.delta is not None else s.status)
              for seed, s in variant.seeds.items() if not s.passed]
    return ", ".join(failed) or f"every seed passes, yet the pass rate is {variant.pass_rate}"


def status_flips(old: Metrics | None, new: Metrics) -> dict[str, Safety]:
    """Variant -> its spec verdict in `old`, for each variant whose SAFE/UNSAFE differs between two certificates."""
    if old is None:
        return {}
    return {name: old.variants[name].spec for name, now in new.variants.items()
            if name in old.variants and old.variants[name].spec != now.spec}


def regressions(old: Metrics, new: Certificate, max_drop: float, rev: str, named: set[str]) -> list[str]:
    """Status flips and worst-Δ drops, but of the variants in `named`, whose line already says what changed."""
    found = []
    for name, was in status_flips(old, new.metrics).items():
        if name not in named:
            now = new.metrics.variants[name]
            found.append(f"{name}: status flipped {was} → {now.spec} against {rev} (worst Δ "
                         f"{pts(old.variants[name].worst_delta)} → {pts(now.worst_delta)}; "
                         f"{_worst_seed(new.details.variants[name])})")
    for name, now in new.metrics.variants.items():
        old_w, new_w = old.variants[name].worst_delta if name in old.variants else None, now.worst_delta
        if name not in named and old_w is not None and new_w is not None and old_w - new_w > max_drop + 1e-9:
            found.append(f"{name}: worst Δ dropped {100 * (old_w - new_w):.1f} points ({pts(old_w)} → {pts(new_w)}), "
                         f"more than the allowed {100 * max_drop:.1f}; {_worst_seed(new.details.variants[name])}")
    return found


def released_metrics(rev: str) -> Metrics | None:
    """The metrics files as committed at `rev` (they are `cache: false`: git holds them), or None where it has none."""
    text = _run("git", "show", f"{rev}:./{CERTIFY}", check=False)
    if text is None:
        return None
    folder = LAYOUT.variant_metrics.as_posix()
    listed = _run("git", "ls-tree", "--name-only", f"{rev}:./{folder}", check=False) or ""  # none before the split
    names = [PurePosixPath(line).stem for line in listed.split() if line.endswith(".json")]
    return certificate.parse_metrics(text, {n: _run("git", "show", f"{rev}:./{folder}/{n}.json") for n in names},
                                     LAYOUT.certificate, rev)


def certificate_lines(policy_name: str, current: Certificate, old: Metrics | None, rev: str | None) -> list[str]:
    """Why the certificate is not certified, a line per reason certify recorded, in its order: as certify worded
    it, but a contradicted claim, whose line names what the policy claims (a variant's claims are one reason:
    "uniform_r20 is SAFE and primary uniform rank 20 is SAFE"), what the run observed and why, and its status at
    `rev` when that differs (the release comparison's flip, said here once)."""
    variants, flips = current.metrics.variants, status_flips(old, current.metrics)
    lines = []
    for reason in current.details.reasons:
        if reason.kind != ReasonKind.CLAIM_CONTRADICTED:
            lines.append(f"not certified: {reason.text}")
            continue
        name = reason.variant
        v, details = variants[name], current.details.variants[name]
        why = _failed_seeds(details) if v.spec == Safety.UNSAFE else f"every seed passes, worst {_worst_seed(details)}"
        lines.append(f"policy {policy_name} claims {reason.claim}; observed {v.spec}: {why}"
                     + (f" (population verdict {v.population})" if v.population != v.spec else "")
                     + (f" ({flips[name]} at {rev}, worst Δ {pts(old.variants[name].worst_delta)})"
                        if name in flips else ""))
    return lines


def claimed(current: Certificate) -> set[str]:
    """The variants a contradicted-claim line names: their flip against the release is said on that line."""
    return {r.variant for r in current.details.reasons if r.kind == ReasonKind.CLAIM_CONTRADICTED}


def headline(current: Certificate, stale: int, regressed: int, rev: str | None) -> str:
    """The first line: certified or not, with how many reasons, and what else fails."""
    n = len(current.details.reasons)
    parts = ["CERTIFIED" if current.metrics.certified else f"NOT CERTIFIED: {n} reason{'s' * (n != 1)}"]
    if stale:
        parts.append(f"{stale} stage{'s' * (stale != 1)} not up to date")
    if regressed:
        parts.append(f"{regressed} regression{'s' * (regressed != 1)} against {rev}")
    return "; ".join(parts)


def verdict_markdown(report: Path) -> str:
    """The report's headline (certified or not, and why) and its verdict table, for a CI job summary."""
    if not report.is_file():
        return ""
    sections, current = {"": []}, ""
    for line in report.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        sections[current].append(line)
    head = [line.replace("# ", "### ", 1) if line.startswith("# ") else line for line in sections[""]
            if line.startswith(("# ", "- "))]
    tables = [["", f"### {name}", "", *(line for line in sections[name] if line.startswith("|"))]
              for name in VERDICT_SECTIONS if name in sections]
    return "\n".join([head[0], "", *head[1:], *(line for table in tables for line in table)]) if head else ""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="compare with this revision instead of the last release tag")
    parser.add_argument("--tag-pattern", default="v*")
    parser.add_argument("--allow-missing-data", action="store_true",
                        help="accept outputs missing from the workspace (CI without a DVC remote)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--summary", type=Path, help="append the result as markdown to this file (CI job summary)")
    args = parser.parse_args(argv)
    try:
        first, failures, rev, markdown = check(args)
    except RankcertError as err:  # bad input: nothing was judged (exit 2, the one line run_main prints)
        if args.summary is not None:
            with args.summary.open("a", encoding="utf-8") as f:
                f.write(f"## Pre-release check: bad input (exit 2)\n\n- rankcert: error: {err}\n")
        raise
    finish(first, failures, rev, markdown, args.summary)


def check(args: argparse.Namespace) -> tuple[str, list[str], str | None, list[str]]:
    """(the headline, the FAIL lines, the release compared with, the summary's markdown); RankcertError on input
    that can't be judged: params or policy that validate refuses (every stage would read out of date for it), or
    a certificate that can't be read."""
    params, policy = check_inputs(args.params, here=False)
    changes = stage_changes(json.loads(_run("dvc", "status", "--json") or "{}"), args.allow_missing_data)
    stale, downstream = stale_stages(changes, lock_outputs(LAYOUT.lock_files))
    failures = [f"pipeline not up to date: {line}" for line in stale]
    if stale and downstream:
        failures[-1] += f"; {downstream} more stage(s) are out of date only through {'it' if len(stale) == 1 else 'these'}"
    current = certificate.read(LAYOUT.certificate, LAYOUT.certificate_details)
    for run in current.details.collapses.runs:  # named, not failed on: a collapse is a failed run, in the verdicts
        print(f"NOTE collapsed: {run.line()} (counted as a failed run)")
    rev = args.rev or last_release(args.tag_pattern)
    old, out = None, []  # out: the markdown the summary gets besides the FAIL lines
    if rev is None:
        print(f"no earlier release tag matching {args.tag_pattern!r}: nothing to compare with")
    else:
        table = _run("dvc", "metrics", "diff", rev, "--md", "--targets", *TARGETS) or "(no change)\n"
        out += [f"## dvc metrics diff {rev} → workspace", "", table]
        print("\n".join(out))
        # `dvc metrics diff` exits 0 whatever it finds: the verdict comes from the release's own files.
        old = released_metrics(rev)
        if old is None:
            print(f"{CERTIFY} is not committed at {rev}: no release figures to compare with")
    failures += certificate_lines(policy.name, current, old, rev)
    regressed = [] if old is None else regressions(old, current, params.release.max_worst_delta_drop, rev,
                                                   claimed(current))
    first = headline(current, len(stale), len(regressed), rev)
    return first, failures + regressed, rev, out + [verdict_markdown(LAYOUT.report)]


def finish(first: str, failures: list[str], rev: str | None, markdown: list[str], summary: Path | None) -> None:
    """Print the headline and the FAIL lines (or the pass line), append the summary, exit 1 on any failure."""
    lines = [first, *(f"FAIL {line}" for line in failures)] if failures else [
        "pre-release check passed: inputs valid, pipeline up to date, certified, no regression"
        + (f" against {rev}" if rev else "")]
    print("\n".join(lines))
    if summary is not None:
        heading = f"## Pre-release check: {'FAILED' if failures else 'passed'}"
        with summary.open("a", encoding="utf-8") as f:
            f.write("\n".join([heading, "", *(f"- {line}" for line in lines), "", *markdown]) + "\n")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
