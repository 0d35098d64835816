"""Pictures for the report: the Vega-Lite templates that `dvc plots` uses, rendered to PNG offline (vl-convert)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rankcert.runtime.errors import RankcertError

# name -> (template in plots/templates, title); the same templates dvc.yaml declares for `dvc plots show`
FIGURES = {
    "delta": ("delta_ci.json", "Δ accuracy vs probe per variant and seed, with paired bootstrap CI (points)"),
    "frontier": ("frontier.json", "the frontier: Δ vs trainable parameters per variant (dot: mean over seeds, tick: "
                                  "worst seed, bar: lowest to highest CI bound; dashed: the tolerance)"),
    "loss": ("lines.json", "training loss per step (probe and every variant, each seed)"),
    "rank_plan": ("heatmap.json", "per_layer rank plans (layer × module, one panel per variant)"),
    "spectra": ("spectra.json", "probe singular-value spectra per module"),
    "evidence": ("evidence.json", "how much evidence: each variant's share of SAFE against the number of seeds "
                                  "(predicted beyond the run's own; line style: eval examples; grey: settled)"),
}


def vega_lite(template: Path, title: str, rows: list[dict]) -> dict:
    """The template with its data and title filled in, as DVC fills them (one revision: the workspace)."""
    if not template.is_file():
        raise RankcertError(f"{template} not found: the dvc plots templates come with the project "
                            f"(`git checkout -- {template.parent}` restores them)")
    spec = json.loads(template.read_text(encoding="utf-8"))
    spec["data"] = {"values": [dict(row, rev="workspace") for row in rows]}
    spec["title"] = title
    return spec


def render_png(spec: dict) -> bytes:
    """PNG bytes of a Vega-Lite spec; no browser, no network, the same bytes for the same spec."""
    import vl_convert

    return vl_convert.vegalite_to_png(spec, scale=2)


def render_all(templates: Path, rows: dict[str, list[dict]]) -> dict[str, bytes]:
    """name -> PNG for every figure that has rows (a run without per_layer has no rank plan to draw).

    Without vl-convert (a trimmed install) the report goes without pictures, saying so in one line.
    """
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        print("rankcert: pictures skipped: vl-convert-python is not installed", file=sys.stderr, flush=True)
        return {}
    return {name: render_png(vega_lite(templates / template, title, rows[name]))
            for name, (template, title) in FIGURES.items() if rows.get(name)}
