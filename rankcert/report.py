"""The markdown certification report: verdict first, then variants, policy claims, level, and run facts."""
from __future__ import annotations

from rankcert.params import Params
from rankcert.policy import Policy
from rankcert.results import RunResults
from rankcert.text import pct, pts, rank_summary
from rankcert.verdict import Verdict


def render(params: Params, policy: Policy, verdict: Verdict, found: RunResults, facts: dict,
           pictures: dict[str, str] | None = None) -> str:
    """The report; `pictures` maps a figure name (figures.FIGURES) to its path relative to the report."""
    pictures, plans, sizes = pictures or {}, found.plans, found.sizes
    tol = params.certify.tolerance
    head = "CERTIFIED" if verdict.certified else "NOT CERTIFIED"
    lines = [f"# rankcert certification: **{head}**", ""]
    lines += [f"- {reason}" for reason in verdict.reasons] or [
        f"- every policy claim agrees, the probe gate passed, and the run is {verdict.level.name}"]
    lines += ["", f"Rule: per seed PASS when Δ ≥ −{100 * tol:.1f} points; a variant is SAFE when its pass rate ≥ "
              f"{params.certify.min_pass_rate:.2f} and its worst-seed Δ ≥ −{100 * tol:.1f} points. "
              f"Probe quality gate: accuracy ≥ {params.certify.probe_min_accuracy:.2f}, else the seed is "
              "UNDERTRAINED and fails for every variant. Missing results count as failed seeds.", ""]
    lines += _picture(pictures, "delta", "Δ vs probe with paired bootstrap CI; the dashed line is the tolerance")
    lines += _probe_table(params, verdict, sizes)
    for name, summary in verdict.summaries.items():
        lines += _variant_section(params, name, summary, plans, sizes, found.missing)
    lines += _claims_table(policy, verdict)
    lines += ["## Validation level", "", f"**{verdict.level.name}**: {'; '.join(verdict.level.reasons)}.", ""]
    lines += ["## Pictures", ""] if set(pictures) - {"delta"} else []
    lines += _picture(pictures, "loss", "training loss per step")
    lines += _picture(pictures, "rank_plan", "per_layer ranks by layer and module")
    lines += _picture(pictures, "spectra", "probe singular values per module")
    lines += _facts(facts)
    return "\n".join(lines) + "\n"


def _probe_table(params: Params, verdict: Verdict, sizes) -> list[str]:
    out = ["## Probe", "", f"LoRA r={params.probe.rank}, alpha={params.probe.alpha}.", "",
           "| seed | accuracy | trainable params | gate |", "|---|---|---|---|"]
    for seed, acc in verdict.probe_accuracy.items():
        size = sizes.get((seed, "probe"), {}).get("trainable_parameters")
        gate = "missing" if acc is None else ("UNDERTRAINED" if seed in verdict.undertrained else "ok")
        out.append(f"| {seed} | {pct(acc)} | {'—' if size is None else f'{size:,}'} | {gate} |")
    return out + [""]


def _variant_section(params, name, summary, plans, sizes, missing) -> list[str]:
    tol = params.certify.tolerance
    out = [f"## {name}: **{summary.status}**", ""]
    confidence = int(100 * params.certify.confidence)
    out += [f"| seed | ranks | trainable params | reduction | accuracy | Δ (points) | {confidence}% CI | McNemar p | verdict |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in summary.seeds:
        size = sizes.get((r.seed, name), {})
        ci = "—" if r.ci_low is None else f"[{pts(r.ci_low)}, {pts(r.ci_high)}]"
        p = "—" if r.mcnemar_p is None else f"{r.mcnemar_p:.3f}"
        params_n = size.get("trainable_parameters")
        out.append(f"| {r.seed} | {rank_summary(plans[(r.seed, name)]) if plans.get((r.seed, name)) else name} | "
                   f"{'—' if params_n is None else f'{params_n:,}'} | {pct(size.get('reduction_vs_probe'))} | "
                   f"{pct(r.accuracy)} | {pts(r.delta)} | {ci} | {p} | {r.status} |")
    for r in summary.seeds:
        why = [missing[(r.seed, n)] for n in ("probe", name) if (r.seed, n) in missing]
        if why:
            out.append(f"\nSeed {r.seed} is {r.status} (a failed seed): {'; '.join(why)}.")
    std = "—" if summary.std_delta is None else f"{100 * summary.std_delta:.1f}"
    out += ["", f"Across seeds: pass rate {summary.pass_rate:.2f}, worst Δ {pts(summary.worst_delta)}, "
            f"mean Δ {pts(summary.mean_delta)}, std {std} points → **{summary.status}**.",
            f"Non-inferiority reading (every seed's CI lower bound ≥ −{100 * tol:.1f}): "
            f"{'yes' if summary.non_inferior else 'no'} (reported beside the rule, not part of it)."]
    if not summary.pass_rate_binding and all(r.delta is not None for r in summary.seeds):
        out.append("The pass-rate condition is implied here: with every seed measured, worst Δ ≥ −tolerance "
                   "already means every seed passes, so only the worst-seed condition decides.")
    return out + [""]


def _claims_table(policy: Policy, verdict: Verdict) -> list[str]:
    out = [f"## Policy `{policy.name}` (v{policy.version}, scope {policy.scope.model_family}/{policy.scope.task})", ""]
    if not verdict.in_scope:
        out += ["This run is outside the policy's scope, so it cannot certify it.", ""]
    out += [f"Criteria differ from params: {d}" for d in verdict.criteria_differences]
    out += ["| claim | variant | expected | observed | outcome |", "|---|---|---|---|---|"]
    out += [f"| {c.claim} | {c.variant} | {c.expected} | {c.observed or '—'} | {c.outcome} |" for c in verdict.claims]
    return out + [""]


def _picture(pictures: dict[str, str], name: str, caption: str) -> list[str]:
    return [f"![{caption}]({pictures[name]})", ""] if name in pictures else []


def _facts(facts: dict) -> list[str]:
    out = ["## Run facts", ""]
    for key, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        out.append(f"- {key}: {value}")
    return out
