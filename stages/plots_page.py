"""Stage plots_page: the page template `dvc plots show` fills, with the Vega libraries inlined (rankcert.reporting.plotpage).

.dvc/config points DVC's `plots.html_template` at this stage's output, so the plots render with no network.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankcert.config.entrypoint import command_line, run_main
from rankcert.reporting.plotpage import page_template
from rankcert.runtime.outputs import write_text


def main(argv: Sequence[str] | None = None) -> None:
    parser = command_line(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the HTML template (.dvc/config's plots.html_template)")
    args = parser.parse_args(argv)
    page = page_template()
    write_text(args.out, page)
    print(f"[plots_page] {args.out}: {len(page) // 1024} KiB, the Vega libraries inlined", flush=True)


if __name__ == "__main__":
    run_main(main)
