"""Write the policy a certifiable run supports: every variant's observed status, the uniform ranks, provenance.

    python -m rankcert.tools.policy_export [--out PATH] [--name NAME] [--write]      (make policy)

Reads the certificate (metrics/certify.json and its details; certifiable, probe gate passed), params.yaml
and the run's facts, prints the policy's diff against the file at --out (default: params' certify.policy),
and writes it only with --write. The primary and conservative uniform ranks are chosen among population-SAFE
verdicts (rankcert.certification.population); claims the population verdict does not settle are listed under `unsettled`,
and certify calls them unsettled too (one voice), so the run certifies against its policy once they settle.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

from rankcert.certification import certificate
from rankcert.certification.certificate import Certificate
from rankcert.certification.policy import SCHEMA_VERSION, Criteria, Observed, Policy, Scope, claims_from, policy_yaml
from rankcert.certification.run_results import data_fingerprints
from rankcert.certification.words import LevelName, Safety
from rankcert.config import records
from rankcert.config.entrypoint import run_main
from rankcert.config.params import Params, load_params
from rankcert.config.records import AdapterRun
from rankcert.config.variants import parse_variant
from rankcert.runtime import runfacts
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import PROBE, Layout
from rankcert.runtime.outputs import write_text
from rankcert.runtime.text import pct

HEADER = ("# rankcert compression policy (schema version 1), exported by `make policy` from a certifiable run;\n"
          "# the keys are documented in policies/safe_uniform.yaml.\n")


def observed(layout: Layout) -> Certificate:
    """The workspace's certificate, refused unless the run can establish claims."""
    found = certificate.read(layout.certificate, layout.certificate_details)
    if found.metrics.level != LevelName.CERTIFIABLE:
        raise RankcertError(f"{layout.certificate} is at the {found.metrics.level} level; only a certifiable run "
                            "(enough seeds, steps and examples, see params certify.certifiable) can set a policy")
    if found.details.plan.exploratory:
        raise RankcertError(f"{layout.certificate} is an exploratory read ({found.details.plan.exploratory}); only a "
                            "look of the declared plan can set a policy (docs/plan.md)")
    if not found.details.probe.gate_passed:
        raise RankcertError(f"{layout.certificate}: the probe quality gate failed; an undertrained run sets no policy")
    return found


def observations(found: Certificate) -> dict:
    """Variant -> what the certificate says of it (names parsed here, at the file's edge). A verdict is settled when
    the population verdict (about training runs on this eval set) says what the spec rule says about these runs."""
    out = {}
    for name, v in found.metrics.variants.items():
        spec, verdict, seeds = v.spec, v.population, found.details.variants[name].population.seeds
        if verdict == spec:
            seen = Observed(spec, True, f"settled (population verdict {verdict} at {seeds} seeds)")
        elif verdict == Safety.UNSETTLED:
            seen = Observed(spec, False, f"not settled (population verdict {verdict} at {seeds} seeds, lower "
                                         f"bound on the passing share {pct(v.share_lower)}; `make settle` adds seeds)")
        else:
            seen = Observed(spec, False, f"not settled (the spec rule says {spec} about these {seeds} "
                                         f"runs, the population verdict {verdict} about runs on this eval set)")
        out[parse_variant(name)] = seen
    return out


def exported(params: Params, found: Certificate, layout: Layout, name: str) -> Policy:
    """The policy the certificate `found` supports, named `name`, with where its evidence came from."""
    run = records.read(layout.run_record(params.seeds[0], PROBE), AdapterRun)
    local_data = Path(params.data.source).is_dir()
    return Policy(SCHEMA_VERSION, name,
                  Scope(run.model_type, Path(params.data.source).name if local_data else params.data.config),
                  Criteria(params.certify.tolerance, params.certify.min_pass_rate), claims_from(observations(found)),
                  provenance(params, layout, str(found.metrics.level)))


def provenance(params: Params, layout: Layout, level: str) -> dict[str, str]:
    """Where the evidence came from, by content: a fingerprint identifies code, model and data anywhere."""
    model, data = params.model, params.data
    return {
        "model": _source(model.name, model.revision),
        "model_fingerprint": runfacts.model_fingerprint(model.name),
        "data": f"{_source(data.source, data.revision)}, config {data.config}",
        "data_fingerprints": data_fingerprints(layout, params.seeds),
        "code_fingerprint": code_fingerprint(layout),
        "code_revision": git_revision(layout.root),
        "seeds": ", ".join(map(str, params.seeds)),
        "validation_level": level,
    }


def _source(name: str, revision: str) -> str:
    """A hub id with its revision; a local folder by its name only (its path means nothing elsewhere)."""
    return f"local folder {Path(name).name!r}" if Path(name).is_dir() else f"hub {name} at revision {revision}"


def code_fingerprint(layout: Layout) -> str:
    """sha256 over the code stage's records (every file each stage imports, by content hash)."""
    records = sorted(layout.code.glob("*.json")) if layout.code.is_dir() else []
    if not records:
        return f"unknown: {layout.code} is missing (`dvc repro code` records it)"
    digest = hashlib.sha256()
    for path in records:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def git_revision(root: Path) -> str:
    """The commit of the checkout at `root`, said plainly when it has uncommitted changes or isn't one."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown: not a git checkout"
    commit = rev.stdout.strip()
    return f"{commit} with uncommitted changes (see code_fingerprint)" if dirty.stdout.strip() else commit


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
    text = HEADER + policy_yaml(exported(params, observed(layout), layout, args.name or out.stem))
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
