"""Rows for the DVC plots: loss curves, Δ with CI, the frontier, the per_layer rank plans, the probe's spectra."""
from __future__ import annotations

import re

from rankcert.certification import frontier
from rankcert.certification.run_results import RunResults
from rankcert.certification.verdict import Verdict
from rankcert.certification.words import Safety

COLUMNS = {"loss": ["step", "loss", "series"], "delta": ["variant", "seed", "delta", "ci_low", "ci_high", "threshold"],
           "frontier": ["variant", "kind", "parameters", "mean_delta", "worst_delta", "ci_low", "ci_high", "status",
                        "threshold"],
           "rank_plan": ["layer", "module", "rank", "variant"], "spectra": ["index", "singular_value", "series"],
           "evidence": ["variant", "seeds", "eval", "safe_share"]}

LAYER = re.compile(r"\.(\d+)\.(.+)$")


def plot_rows(found: RunResults, verdict: Verdict, tolerance: float) -> dict[str, list[dict]]:
    """Every plot's rows, by plot name (the names of COLUMNS)."""
    drawn = {k: v for k, v in found.plans.items() if verdict.variants[k[1]].in_heatmap}
    return {"loss": loss_rows(found.logs), "delta": delta_rows(verdict, tolerance),
            "frontier": frontier_rows(frontier.points(verdict, found.evaluations), tolerance),
            "rank_plan": plan_rows(drawn), "spectra": spectrum_rows(found.probe_spectra),
            "evidence": evidence_rows(verdict)}


def split_module(name: str) -> tuple[str, str]:
    """('3', 'attention.q_lin') from 'distilbert.transformer.layer.3.attention.q_lin'."""
    match = LAYER.search(name)
    return (match.group(1), match.group(2)) if match else ("-", name)


def loss_rows(logs: dict[tuple[int, str], list[dict]]) -> list[dict]:
    return [{"step": int(row["step"]), "loss": round(float(row["loss"]), 6), "series": f"{name}@{seed}"}
            for (seed, name), rows in logs.items() for row in rows]


def delta_rows(verdict: Verdict, tolerance: float) -> list[dict]:
    """Δ and its CI in accuracy points; `threshold` is −tolerance, drawn as the pass line."""
    return [{"variant": name, "seed": str(r.seed), "delta": round(100 * r.delta, 4),
             "ci_low": round(100 * r.ci_low, 4), "ci_high": round(100 * r.ci_high, 4),
             "threshold": round(-100 * tolerance, 4)}
            for name, s in verdict.summaries.items() for r in s.seeds if r.delta is not None]


def frontier_rows(points: list[frontier.Point], tolerance: float) -> list[dict]:
    """One row per variant: size against mean Δ, worst Δ and the CI range in points; SAFE or UNSAFE."""
    return [{"variant": p.variant, "kind": p.kind, "parameters": round(p.parameters, 1),
             "mean_delta": round(100 * p.mean_delta, 4), "worst_delta": round(100 * p.worst_delta, 4),
             "ci_low": round(100 * p.ci_low, 4), "ci_high": round(100 * p.ci_high, 4),
             "status": Safety.SAFE if p.safe else Safety.UNSAFE, "threshold": round(-100 * tolerance, 4)} for p in points]


def evidence_rows(verdict: Verdict) -> list[dict]:
    """Each variant's predicted share of SAFE against the number of seeds, per eval size (rankcert.certification.evidence)."""
    return [{"variant": name, "seeds": seeds, "eval": str(size), "safe_share": round(share, 4)}
            for name, e in verdict.evidence.items() for size, by_seeds in e.stability.items()
            for seeds, share in by_seeds.items()]


def plan_rows(plans: dict[tuple[int, str], dict[str, int]]) -> list[dict]:
    rows = []
    for (seed, name), ranks in plans.items():
        for module, rank in ranks.items():
            layer, part = split_module(module)
            rows.append({"layer": f"seed {seed} · layer {layer}", "module": part, "rank": rank, "variant": name})
    return rows


def spectrum_rows(spectra: dict[int, dict[str, list[float]]]) -> list[dict]:
    rows = []
    for seed, modules in spectra.items():
        for module, values in modules.items():
            layer, part = split_module(module)
            rows += [{"index": i + 1, "singular_value": round(v, 6), "series": f"seed {seed} · L{layer} {part}"}
                     for i, v in enumerate(values)]
    return rows
