"""Write the policy a certifiable run supports: every variant's observed status, the uniform ranks, provenance.

    python -m rankcert.tools.policy_export [--out PATH] [--name NAME] [--write]      (make policy)

Reads metrics/certify.json (which must be at the certifiable level with the probe gate passed), params.yaml
and the run's facts, prints the policy's diff against the file at --out (default: params' certify.policy),
and writes it only with --write. Certify against the written policy agrees by construction.
"""
from __future__ import annotations

import argparse
import difflib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from rankcert import runfacts
from rankcert.errors import RankcertError, run_main
from rankcert.layout import Layout
from rankcert.outputs import write_text
from rankcert.params import Params, load_params
from rankcert.policy import SCHEMA_VERSION, claims_from
from rankcert.results import data_fingerprints

HEADER = ("# rankcert compression policy (schema version 1), exported by `make policy` from a certifiable run;\n"
          "# the keys are documented in policies/safe_uniform.yaml.\n")


def observed(certify_json: Path) -> dict:
    """certify.json, refused unless the run can establish claims."""
    if not certify_json.is_file():
        raise RankcertError(f"{certify_json} not found; run `dvc repro` first")
    result = json.loads(certify_json.read_text(encoding="utf-8"))
    if result.get("level") != "certifiable":
        raise RankcertError(f"{certify_json} is at the {result.get('level')} level; only a certifiable run (enough "
                            "seeds, steps and examples, see params certify.certifiable) can set a policy")
    if not result.get("probe", {}).get("gate_passed"):
        raise RankcertError(f"{certify_json}: the probe quality gate failed; an undertrained run sets no policy")
    return result


def policy_document(params: Params, result: dict, layout: Layout, name: str) -> dict:
    statuses = {variant: v["status"] for variant, v in result["variants"].items()}
    claims = claims_from(statuses)
    run = json.loads((layout.probe(params.seeds[0]) / "run.json").read_text(encoding="utf-8"))
    local_data = Path(params.data.source).is_dir()
    return {
        "version": SCHEMA_VERSION, "name": name,
        "scope": {"model_family": run["model_type"],
                  "task": Path(params.data.source).name if local_data else params.data.config},
        "criteria": {"tolerance": params.certify.tolerance, "min_pass_rate": params.certify.min_pass_rate},
        "claims": {"expected": claims.expected, "primary_uniform_rank": claims.primary_uniform_rank,
                   "conservative_uniform_rank": claims.conservative_uniform_rank, "avoid_ranks": claims.avoid_ranks},
        "provenance": {"model": params.model.name, "model fingerprint": runfacts.model_fingerprint(params.model.name),
                       "data": f"{params.data.source} ({params.data.config})",
                       "data fingerprints": data_fingerprints(layout, params.seeds),
                       "seeds": ", ".join(map(str, params.seeds)), "validation level": result["level"],
                       "code revision": _git_revision()},
    }


def _git_revision() -> str:
    """The commit the evidence came from (+dirty when the tree has changes); a tool's output, not a DVC one."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace whose certification to export")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, help="policy file to compare with and write (default: certify.policy)")
    parser.add_argument("--name", help="the policy's name (default: the file's stem)")
    parser.add_argument("--write", action="store_true", help="write the file (otherwise only show the diff)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    out = args.out or Path(params.certify.policy)
    layout = Layout(args.root)
    document = policy_document(params, observed(layout.certificate), layout, args.name or out.stem)
    text = HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    old = out.read_text(encoding="utf-8") if out.is_file() else ""
    diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), str(out), "exported"))
    print(diff or f"{out} already says this", end="" if diff else "\n")
    if args.write:
        write_text(out, text)
        print(f"\nwritten {out}")
    elif diff:
        print(f"\nnot written; add --write to replace {out}")


if __name__ == "__main__":
    run_main(main)
