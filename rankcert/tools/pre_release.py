"""The pre-release gate: inputs valid, pipeline up to date, run certified, no regression against the last release.

    python -m rankcert.tools.pre_release [--rev REV] [--tag-pattern 'v*'] [--allow-missing-data] [--summary FILE]

Fails (exit 1) with one `FAIL` line per cause: params or policy that validate refuses (that line alone); each
stage whose own code, params or inputs changed (stages out of date only through it are counted, not listed);
each reason the certificate (metrics/certify.json and its details) records that the run is not certified, as
certify decided and worded it (nothing is checked again here), a variant's contradicted claims one line with both
sides ("policy safe_uniform claims uniform_r24 is SAFE; observed UNSAFE: seed 123 Δ -3.6 points"); and, against REV
(default: the newest tag matching the pattern, not on HEAD; its committed metrics file), a status flip or a
worst-Δ drop beyond release.max_worst_delta_drop. An UNSAFE the policy expects is no failure. Prints the
`dvc metrics diff` as markdown (verdict changes first: the metrics file's keys sort them there); --summary
appends the result, the diff and the report's verdict to FILE (CI: $GITHUB_STEP_SUMMARY).
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
from rankcert.config.harness import run_main
from rankcert.runtime.errors import RankcertError, one_line
from rankcert.runtime.layout import LAYOUT
from rankcert.runtime.text import pts
from rankcert.runtime.yamlfile import read_yaml
from rankcert.validation import check_inputs

CERTIFY = LAYOUT.certificate.as_posix()
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
    stale_outs = [out for stage in changes for out in outputs.get(_name(stage), [])]
    own = {}
    for stage, reasons in changes.items():
        causes = [text for text, path in reasons if not (path and text.startswith("changed deps")
                                                          and any(_overlap(path, out) for out in stale_outs))]
        if causes:
            own[stage] = causes
    return [f"{_name(stage)} ({'; '.join(causes)})" for stage, causes in own.items()], len(changes) - len(own)


def _name(stage: str) -> str:
    """'probe@42' from dvc's 'dvc.yaml:probe@42'."""
    return stage.rsplit(":", 1)[-1]


def _overlap(a: str, b: str) -> bool:
    pa, pb = PurePosixPath(a), PurePosixPath(b)
    return pa == pb or pb in pa.parents or pa in pb.parents


def lock_outputs(lock: Path) -> dict[str, list[str]]:
    """Stage -> its output paths, from dvc.lock (what the committed results were made of)."""
    if not lock.is_file():
        return {}
    stages = (read_yaml(lock, "dvc.lock", "run `dvc repro`") or {}).get("stages", {})
    return {name: [out["path"] for out in stage.get("outs", [])] for name, stage in stages.items()}


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
    """The metrics file as committed at `rev` (it is `cache: false`: git holds it), or None where it has none."""
    text = _run("git", "show", f"{rev}:./{CERTIFY}", check=False)
    return None if text is None else certificate.parse_metrics(text, f"{CERTIFY} at {rev}")


def contradicted_claims(policy_name: str, current: Certificate, old: Metrics | None, rev: str | None) -> dict[str, str]:
    """Variant -> one line naming what the policy claims and what the run observed, and why, per variant the
    certificate says a claim is contradicted on (a variant claimed twice, e.g. expected SAFE and the primary rank,
    is one line), with its status at `rev` when that differs (the release comparison's flip, said here once)."""
    variants, flips = current.metrics.variants, status_flips(old, current.metrics)
    claims: dict[str, list[str]] = {}
    for reason in current.details.reasons:
        if reason.kind == ReasonKind.CLAIM_CONTRADICTED:
            claims.setdefault(reason.variant, []).append(reason.claim)
    lines = {}
    for name, said in claims.items():
        v, details = variants[name], current.details.variants[name]
        why = _failed_seeds(details) if v.spec == Safety.UNSAFE else f"every seed passes, worst {_worst_seed(details)}"
        lines[name] = (f"policy {policy_name} claims {' and '.join(said)}; observed {v.spec}: {why}"
                       + (f" (population verdict {v.population})" if v.population != v.spec else "")
                       + (f" ({flips[name]} at {rev}, worst Δ {pts(old.variants[name].worst_delta)})"
                          if name in flips else ""))
    return lines


def not_certified(current: Certificate) -> list[str]:
    """Why the certificate is not certified, a line per reason certify recorded, but contradicted claims (their own
    lines, with the release comparison)."""
    return [f"not certified: {reason.text}" for reason in current.details.reasons
            if reason.kind != ReasonKind.CLAIM_CONTRADICTED]


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
    out = []  # the markdown the summary gets besides the FAIL lines
    try:
        params, policy = check_inputs(args.params, data=False)
    except RankcertError as err:  # every stage would read out of date: the one cause is this
        finish([f"validate: {err}"], None, out, args.summary)
        return
    changes = stage_changes(json.loads(_run("dvc", "status", "--json") or "{}"), args.allow_missing_data)
    stale, downstream = stale_stages(changes, lock_outputs(Path("dvc.lock")))
    failures = [f"pipeline not up to date: {line}" for line in stale]
    if stale and downstream:
        failures[-1] += f"; {downstream} more stage(s) are out of date only through {'it' if len(stale) == 1 else 'these'}"
    current = certificate.read(LAYOUT.certificate, LAYOUT.certificate_details)
    for run in current.details.collapses.runs:  # named, not failed on: a collapse is a failed run, in the verdicts
        print(f"NOTE collapsed: {run.line()} (counted as a failed run)")
    rev = args.rev or last_release(args.tag_pattern)
    old = None
    if rev is None:
        print(f"no earlier release tag matching {args.tag_pattern!r}: nothing to compare with")
    else:
        table = _run("dvc", "metrics", "diff", rev, "--md", "--targets", CERTIFY) or "(no change)\n"
        out += [f"## dvc metrics diff {rev} → workspace", "", table]
        print("\n".join(out))
        # `dvc metrics diff` exits 0 whatever it finds: the verdict comes from the release's own file.
        old = released_metrics(rev)
        if old is None:
            print(f"{CERTIFY} is not committed at {rev}: no release figures to compare with")
    failures += not_certified(current)
    claims = contradicted_claims(policy.name, current, old, rev)
    failures += list(claims.values())
    if old is not None:
        failures += regressions(old, current, params.release.max_worst_delta_drop, rev, set(claims))
    finish(failures, rev, out + [verdict_markdown(LAYOUT.report)], args.summary)


def finish(failures: list[str], rev: str | None, markdown: list[str], summary: Path | None) -> None:
    """Print the FAIL lines (or the pass line), append the summary, exit 1 on any failure."""
    lines = [f"FAIL {line}" for line in failures] or [
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
