"""Seeds added, look by look, until every population verdict settles (`make settle`).

    python -m rankcert.tools.settle [--params params.yaml] [--jobs N] [--per-gpu K] [--no-commit]

The looks are declared before any result is seen (certify.population.looks), and so are the seeds: params'
`seeds`, then settle.next_seed, next_seed + 1, ... Certify's first read fixes both in the plan file
(rankcert.certification.plan, docs/plan.md); settle follows that plan, and refuses params that depart from it. At
each look it writes that look's seeds into params.yaml, runs the pipeline (`dvc repro`, which reruns only the new
seeds' stages and certify; with several GPUs or --per-gpu, rankcert.tools.parallel), commits params.yaml,
the lock files and certify's outputs (metrics/, plots/data/) with the verdicts and every look read so far in the message
(so `git log` shows the path to the verdict), and reads metrics/certify.json: it stops when no population verdict
is UNSETTLED, or after the last look. Certify splits the error over the looks, so stopping early keeps it.
Interrupted, it resumes at the look params.yaml is at (or the next look, for seeds between looks).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rankcert.certification import certificate, plan
from rankcert.certification.words import Safety
from rankcert.config.entrypoint import run_main
from rankcert.config.params import Params, load_params
from rankcert.runtime import gpus
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import Layout
from rankcert.runtime.outputs import write_text


def declared_plan(params: Params, layout: Layout) -> plan.Plan:
    """The plan certify's first read declared (params' own before it); params that depart from it are refused:
    the looks they would read would be exploratory."""
    stated, declared = plan.from_params(params), plan.read_plan(layout.certify_plan)
    if declared is None:
        return stated
    why = "; ".join(declared.changes(stated)) or plan.seeds_departure(declared, params.seeds)
    if why:
        raise RankcertError(f"params depart from the plan declared in {layout.certify_plan}: {why}; restore them, "
                            f"or start a new plan ({plan.DOC})")
    return declared


def looks_to_run(declared: plan.Plan, seeds: int) -> list[int]:
    """The declared looks still to read, starting with the workspace's own seed count if it is one."""
    return [k for k in declared.looks if k >= seeds]


def with_seeds(text: str, seeds: list[int]) -> str:
    """params.yaml's text with `seeds` replaced, comments and layout kept."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq

    yaml = YAML()  # round trip: the user's comments stay
    yaml.width = 4096
    data = yaml.load(text)
    listed = CommentedSeq(seeds)
    listed.fa.set_flow_style()
    data["seeds"] = listed
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def run_pipeline(jobs: int | None, per_gpu: int | None) -> None:
    if jobs or per_gpu or len(gpus.visible_gpus()) > 1:
        command = [sys.executable, "-m", "rankcert.tools.parallel", *(["--jobs", str(jobs)] if jobs else []),
                   *(["--per-gpu", str(per_gpu)] if per_gpu else [])]
    else:
        command = ["dvc", "repro"]
    if subprocess.run(command).returncode != 0:
        raise RankcertError(f"`{' '.join(command[-3:] if command[0] != 'dvc' else command)}` failed (see above); "
                            "fix what it names and run `make settle` again: it resumes at this look")


def summary(found: dict[str, str]) -> str:
    return ", ".join(f"{name} {verdict}" for name, verdict in found.items())


def looks_read(reading: plan.Reading) -> str:
    """The commit message's body: the plan by hash, every look read under it, and why a read is exploratory."""
    lines = [f"plan sha256 {reading.sha256}; looks read:"]
    lines += [f"- {len(look.seeds)} seeds ({', '.join(map(str, look.seeds))}): "
              + ", ".join(f"{name} {v} (error spent {look.error_spent[name]:.1%})"
                          for name, v in sorted(look.verdicts.items()))
              for look in reading.looks] or ["- none"]
    if reading.exploratory:
        lines.append(f"EXPLORATORY, not certified: {reading.exploratory}")
    return "\n".join(lines)


def commit(paths: list[str], message: str) -> None:
    subprocess.run(["git", "add", "--", *paths], check=True)
    if subprocess.run(["git", "diff", "--cached", "--quiet"]).returncode != 0:
        subprocess.run(["git", "commit", "-q", "-m", message], check=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--jobs", type=int, help="seeds at once, through rankcert.tools.parallel")
    parser.add_argument("--per-gpu", type=int, help="seeds sharing one GPU, through rankcert.tools.parallel")
    parser.add_argument("--no-commit", action="store_true", help="don't commit each look")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    if params.probe.adapter:
        raise RankcertError("probe.adapter imports one adapter, so seeds stay one: there are no more training runs "
                            "to add; settle a verdict with a probe trained here (probe.adapter: null)")
    if not args.no_commit and subprocess.run(["git", "rev-parse", "--git-dir"], capture_output=True).returncode:
        raise RankcertError("not a git checkout: each look is a commit; run inside one or add --no-commit")
    layout = Layout(Path("."))
    declared = declared_plan(params, layout)
    found = {}
    for k in looks_to_run(declared, len(params.seeds)):
        seeds = declared.seeds[:k]
        added = seeds[len(params.seeds):]
        if added:
            write_text(args.params, with_seeds(args.params.read_text(encoding="utf-8"), seeds))
            params = load_params(args.params)
        look, total = declared.looks.index(k) + 1, len(declared.looks)
        print(f"[settle] look {look} of {total}: {k} seeds" + (f" ({len(added)} added: {added[0]}..{added[-1]})"
                                                              if added else ""), flush=True)
        run_pipeline(args.jobs, args.per_gpu)
        made = certificate.read(layout.certificate, layout.certificate_details)
        found, reading = {name: v.population for name, v in made.metrics.variants.items()}, made.details.plan
        print(f"[settle] look {look}: {summary(found)}", flush=True)
        if not args.no_commit:
            tracked = [str(args.params), *map(str, layout.lock_files), str(layout.certificate.parent), str(layout.plot_data)]
            commit(tracked, f"settle look {look} of {total}, {k} seeds: {summary(found)}\n\n{looks_read(reading)}")
        if reading.exploratory:
            raise RankcertError(f"the read at {k} seeds is exploratory, not a look of the plan: {reading.exploratory}"
                                f" ({plan.DOC})")
        if all(verdict != Safety.UNSETTLED for verdict in found.values()):
            print(f"[settle] every population verdict settled at {k} seeds", flush=True)
            return
    unsettled = [name for name, verdict in found.items() if verdict == Safety.UNSETTLED]
    print(f"[settle] the last look ({len(params.seeds)} seeds) leaves {', '.join(unsettled)} UNSETTLED: its true "
          "share of passing runs is too close to certify.population.share to tell apart", flush=True)


if __name__ == "__main__":
    run_main(main)
