"""Stage certify: every seed and variant against the spec's rule and the stored policy; metrics, report, plots."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from rankcert import assembly
from rankcert.certification import certificate, plan
from rankcert.config.entrypoint import command_line, run_main
from rankcert.config.params import load_params
from rankcert.runtime.layout import Layout
from rankcert.runtime.outputs import together


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_line(__doc__, params=True)
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace whose outputs to certify")
    parser.add_argument("--out", type=Path, help="certify.json, the run's metrics, with a file per variant in variants/ "
                                                 "beside it (default: the layout's, under --root)")
    parser.add_argument("--details", type=Path, help="certify_details.json (default: the layout's)")
    parser.add_argument("--report", type=Path, help="report.md (default: the layout's)")
    parser.add_argument("--plots", type=Path, help="plot data for `dvc plots` (default: the layout's)")
    parser.add_argument("--templates", type=Path, help="dvc plots templates (default: the layout's)")
    parser.add_argument("--figures", type=Path, help="PNG pictures for the report (default: the layout's)")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless certified (for CI gates)")
    args = parser.parse_args(argv)
    layout = Layout(args.root)
    args.out, args.details = args.out or layout.certificate, args.details or layout.certificate_details
    args.report, args.figures = args.report or layout.report, args.figures or layout.figures
    args.plots, args.templates = args.plots or layout.plot_data, args.templates or layout.plot_templates

    params = load_params(args.params)
    made = assembly.assemble(params, layout, args.templates, args.report, args.figures)
    with together() as out:  # every output is made before any replaces its predecessor
        plots, shown = out.folder(args.plots), out.folder(args.figures)  # whole folders: nothing stale is left
        for name, text in made.plot_data.items():
            (plots / f"{name}.csv").write_text(text, encoding="utf-8")
        for name, png in made.figures.items():
            (shown / f"{name}.png").write_bytes(png)
        certificate.write(out, made.certificate, args.out, args.details)
        plan.write(out, made.reading, layout.certify_plan, layout.certify_looks)
        out.text(args.report, made.report)
    for line in assembly.console_lines(params, made.verdict):
        print(f"[certify] {line}", flush=True)
    if args.strict and not made.verdict.certified:
        sys.exit(1)


if __name__ == "__main__":
    run_main(main, keeps_outputs=True)  # its outputs are persist in dvc.yaml
