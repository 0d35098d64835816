"""The markdown certification report: verdict first, then the frontier, variants, policy claims, level, run facts."""
from __future__ import annotations

import math

from rankcert.certification import evidence, frontier, population
from rankcert.certification.plan import DOC, Reading
from rankcert.certification.policy import Policy
from rankcert.certification.run_results import RunResults
from rankcert.certification.verdict import Verdict
from rankcert.certification.words import Safety
from rankcert.config.params import Params
from rankcert.runtime.text import bound_pts, pct, pts, rank_summary

FEW_DF = 5  # a lower bound on fewer degrees of freedom is wide because the seeds are few (t ≥ 2.0 instead of 1.64)


def render(params: Params, policy: Policy, verdict: Verdict, found: RunResults, facts: dict,
           pictures: dict[str, str] | None = None, reading: Reading | None = None) -> str:
    """The report; `pictures` maps a figure name (figures.FIGURES) to its path relative to the report, `reading`
    is this read against the declared plan."""
    pictures, plans, sizes = pictures or {}, found.plans, found.evaluations
    tol = params.certify.tolerance
    head = "CERTIFIED" if verdict.certified else "NOT CERTIFIED"
    lines = [f"# rankcert certification: **{head}**", ""]
    lines += [f"- {reason.text}" for reason in verdict.reasons] or [
        f"- every policy claim agrees with its population verdict, and the run is {verdict.level.name}"]
    lines += ["", f"Rule: per seed PASS when Δ ≥ −{100 * tol:.1f} points; a variant is SAFE when its pass rate ≥ "
              f"{params.certify.min_pass_rate:.2f} and its worst-seed Δ ≥ −{100 * tol:.1f} points. "
              f"Probe quality gate: accuracy ≥ {params.certify.probe_min_accuracy:.2f}, else the seed is "
              "UNDERTRAINED and fails for every variant. Missing results count as failed seeds. SE is a seed's standard "
              "error of Δ from its paired per-example differences: the resolution of this eval set. With every seed "
              "measured and every probe through the gate the pass-rate condition is implied (worst Δ ≥ the line means "
              "every seed passes), so the worst-seed condition decides.", ""]
    lines += _population_section(params, verdict)
    lines += _collapse_section(verdict)
    lines += _plan_section(reading) if reading else []
    lines += _picture(pictures, "delta", "Δ vs probe with paired bootstrap CI; the dashed line is the tolerance")
    lines += _probe_table(params, verdict, sizes)
    lines += _frontier_section(params, verdict, sizes)
    lines += _picture(pictures, "frontier", "Δ vs trainable parameters; dot mean, tick worst seed, bar CI range")
    lines += _truncation_section(verdict)
    lines += _evidence_section(params, verdict)
    lines += _picture(pictures, "evidence", "share of SAFE against seeds, per variant and eval size (line style); grey lines: "
                                              "settled at 95%")
    for name, summary in verdict.summaries.items():
        lines += _variant_section(params, name, summary, plans, sizes, found.missing, verdict.stability.get(name))
    lines += _claims_table(policy, verdict)
    lines += _adapters_section(found)
    lines += ["## Validation level", "", f"**{verdict.level.name}**: {'; '.join(verdict.level.reasons)}.", ""]
    lines += ["## Pictures", ""] if set(pictures) - {"delta"} else []
    lines += _picture(pictures, "loss", "training loss per step")
    lines += _picture(pictures, "rank_plan", "per_layer ranks by layer and module, one panel per variant")
    lines += _picture(pictures, "spectra", "probe singular values per module")
    lines += _facts(facts)
    return "\n".join(lines) + "\n"


def _population_section(params: Params, verdict: Verdict) -> list[str]:
    """The spec verdict (about these runs) beside the population verdict (about training runs on this eval set)."""
    c = params.certify
    p, tol, seeds = c.population, 100 * c.tolerance, len(params.seeds)
    looks = population.plan(tuple(p.looks), seeds)
    d = population.design(looks, p.share, c.confidence, p.spending)
    out = ["## Population verdict: training runs, on this eval set", "",
           f"Claim per variant: with {c.confidence:.0%} confidence, at least {p.share:.0%} of training runs (seeds), "
           f"evaluated on this eval set ({params.data.eval_size} examples), have Δ ≥ −{tol:.1f} points. The claim is "
           "about runs on these examples: another sample of the task's examples is not covered by it. "
           "A seed passes when its Δ does; a seed with no Δ "
           "(missing, or its probe failed the gate) fails. The count of passing seeds is binomial whatever the Δs' "
           "distribution, so the verdict reads only that count: **SAFE** at the first look whose count reaches the "
           "look's SAFE boundary, **UNSAFE** at the first look whose count falls to its UNSAFE boundary, "
           f"**UNSETTLED** otherwise. Read at looks {', '.join(map(str, looks))} seeds; the {1 - c.confidence:.0%} "
           f"error is spent along them ({p.spending}) and the boundaries are exact (binomial, at a true share of "
           f"{p.share:.0%}), so a false SAFE, or a false UNSAFE, stays ≤ {1 - c.confidence:.0%} however early it "
           "stops (docs/population.md). Boundaries used (passing seeds): "
           + "; ".join(f"{k}: SAFE ≥ {_bound(a, k)}, UNSAFE ≤ {_bound(b, k)}"
                       for k, a, b in zip(looks, d.safe, d.unsafe)) + ". The lower bound is the "
           f"{c.confidence:.0%} lower confidence bound on the share of runs that pass, from the looks read.", "",
           "| variant | spec verdict | population verdict | passing seeds | boundaries (SAFE / UNSAFE) | lower bound on "
           "the share | looks used | error spent | seed part SD | eval part SD |", "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, v in verdict.population.items():
        spec, e = verdict.summaries[name].status, verdict.evidence.get(name)
        parts = e.parts_sd if e is not None and e.parts_sd else (None, None)
        last = v.looks[-1] if v.looks else None
        counts = "—" if last is None else f"{last.passed}/{last.seeds}"
        bounds = "—" if last is None else f"≥ {_bound(last.safe_at, last.seeds)} / ≤ {_bound(last.unsafe_at, last.seeds)}"
        out.append(f"| {name} | {spec} | **{v.verdict}** | {counts} | {bounds} | {pct(v.lower)} | "
                   f"{v.looks_used} of {v.looks_planned} | {v.confidence_spent:.1%} | {_sd(parts[0])} | {_sd(parts[1])} |")
        if v.verdict != spec:
            notes.append(f"- {name}: the spec rule says {spec} about these {seeds} runs; the population verdict is "
                         f"{v.verdict} ({counts} seeds pass; lower bound on the share {pct(v.lower)}).")
    return out + [""] + notes + ([""] if notes else [])


def _bound(count: int, seeds: int) -> str:
    """A boundary count, or — where this look cannot reach it."""
    return "—" if count < 0 or count > seeds else str(count)


def _collapse_section(verdict: Verdict) -> list[str]:
    """Collapsed runs named, and each adapter's collapse rate: a collapse is a failed run, nothing more."""
    if not verdict.collapses:
        return []
    out = ["## Collapsed runs", "", "A run collapsed when its accuracy is within 3 binomial standard errors of chance "
           "(the eval set's majority share) or more than 15 points below the median of its seed's other runs "
           "(rankcert/certification/collapse.py). It counts as a failed run, nothing more; a collapsed probe fails "
           "its seed for every variant.", ""]
    out += [f"- {c.line()}" for c in verdict.collapses]
    out += ["", "| adapter | collapsed runs | rate | exact 95% interval |", "|---|---|---|---|"]
    out += [f"| {name} | {r.collapsed} of {r.runs} | {pct(r.collapsed / r.runs)} | {pct(r.low)} to {pct(r.high)} |"
            for name, r in verdict.collapse_rates.items()]
    return out + [""]


def _plan_section(reading: Reading) -> list[str]:
    """The declared plan by hash and terms, whether this read is one of its looks, and every look read under it."""
    p = reading.declared
    seeds = ", ".join(map(str, p.seeds[:8])) + (f", ... ({len(p.seeds)} in all)" if len(p.seeds) > 8 else "")
    out = ["## Plan", "", f"Declared at the first read and fixed since (sha256 `{reading.sha256}`): share "
           f"{p.share:g}, tolerance {p.tolerance:g}, confidence {p.confidence:g}, looks {p.looks}, spending "
           f"{p.spending}; the looks read the seeds in this order: {seeds}. A read that departs from it is "
           f"exploratory, never certified ({DOC}).", ""]
    if reading.exploratory:
        out += [f"**Exploratory read**: {reading.exploratory}.", ""]
    if not reading.looks:
        return out + ["No look read yet.", ""]
    out += ["| look | seeds | population verdicts (error spent) |", "|---|---|---|"]
    for look in reading.looks:
        verdicts = ", ".join(f"{name} {v} ({look.error_spent[name]:.1%})" for name, v in sorted(look.verdicts.items()))
        out.append(f"| {len(look.seeds)} | {', '.join(map(str, look.seeds))} | {verdicts} |")
    return out + [""]


def _sd(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _probe_table(params: Params, verdict: Verdict, sizes) -> list[str]:
    made = ("; imported, not trained here: the adapter of `probe.adapter`, its files as they are (sha256 under "
            "\"Adapters judged\"); truncated variants are cut from it, retrained ones follow the recipe in params, so "
            "their Δ also holds that recipe against however the adapter was trained") if params.probe.adapter else ""
    out = ["## Probe", "", f"LoRA r={params.probe.rank}, alpha={params.probe.alpha}{made}.", "",
           "| seed | accuracy | trainable params | gate |", "|---|---|---|---|"]
    for seed, acc in verdict.probe_accuracy.items():
        size = (e := sizes.get((seed, "probe"))) and e.trainable_parameters
        gate = "missing" if acc is None else ("UNDERTRAINED" if seed in verdict.undertrained else "ok")
        out.append(f"| {seed} | {pct(acc)} | {'—' if size is None else f'{size:,}'} | {gate} |")
    return out + [""]


def _stable(share: float | None, resamples: int) -> str:
    return "" if share is None else f"SAFE in {pct(share)} of {resamples:,} joint resamples"


def _frontier_section(params: Params, verdict: Verdict, sizes) -> list[str]:
    found = frontier.points(verdict, sizes)
    if not found:
        return []
    out = ["## Frontier", "", "Every measured variant by size (mean over seeds). Stability: the share of joint bootstrap "
           "resamples of the eval examples (all seeds resampled together, the rule applied as is) in which the "
           "variant is SAFE. Pareto: SAFE, and no other SAFE variant is as small with as high a mean Δ.", "",
           "| variant | trainable params | mean Δ | worst Δ | CI range | verdict | stability | Pareto |",
           "|---|---|---|---|---|---|---|---|"]
    for p in found:
        out.append(f"| {p.variant} | {p.parameters:,.0f} | {pts(p.mean_delta)} | {pts(p.worst_delta)} | "
                   f"[{pts(p.ci_low)}, {pts(p.ci_high)}] | {Safety.SAFE if p.safe else Safety.UNSAFE} | "
                   f"{pct(p.stability)} | "
                   f"{'yes' if p.pareto else ''} |")
    smallest, rank = frontier.smallest_safe(found), frontier.smallest_safe_uniform_rank(verdict)
    named = f"**{smallest.variant}** ({smallest.parameters:,.0f} parameters)" if smallest else "none"
    out += ["", f"Smallest SAFE variant: {named}; smallest SAFE uniform rank: {f'**{rank}**' if rank else 'none measured'}. "
            f"{params.certify.bootstrap_resamples:,} resamples.", ""]
    return out


def _truncation_section(verdict: Verdict) -> list[str]:
    gaps = frontier.truncation_gaps(verdict)
    if not gaps:
        return []
    out = ["## Truncation vs retraining", "", "Δ of each truncated_ variant (the probe's update cut by SVD, not "
           "retrained) beside the retrained variant with the same plan; gap = truncated − retrained, per seed.", "",
           "| truncated | mean Δ | retrained | mean Δ | mean gap | largest gap |", "|---|---|---|---|---|---|"]
    for g in gaps:
        s, r = verdict.summaries[g.variant], verdict.summaries[g.retrained]
        largest = max(g.gaps.values(), key=abs)
        out.append(f"| {g.variant} | {pts(s.mean_delta)} | {g.retrained} | {pts(r.mean_delta)} | {pts(g.mean_gap)} | "
                   f"{pts(largest)} |")
    largest, correlation = frontier.truncation_agreement(verdict)
    points = sum(len(g.deltas) for g in gaps)
    if correlation is not None:
        corr = f", correlation of the two Δs {correlation:.2f}"
    elif points < 3:
        corr = f"; the correlation of the two Δs needs at least 3 (seed, pair) points, this run has {points}"
    else:
        corr = "; the correlation of the two Δs is undefined: one of them is the same in every pair"
    return out + ["", f"Over every seed and pair: largest |gap| {100 * largest:.1f} points{corr}.", ""]


def _evidence_section(params: Params, verdict: Verdict) -> list[str]:
    found = verdict.evidence
    if not found:
        return []
    tol, seeds, first = 100 * params.certify.tolerance, len(params.seeds), next(iter(found.values()))
    sizes = sorted(first.stability)
    shown = [k for k in sorted(first.stability[first.examples]) if k in (seeds, *evidence.SHOWN_SEEDS)]
    out = ["## How much evidence", "",
           "Seeds and eval examples are crossed samples: every seed is evaluated on the same examples. Beside the "
           "rule (never changing it): **mean Δ lower 95%**, a one-sided 95% lower bound on the mean Δ over seeds and "
           "examples (two-way random-effects ANOVA: seed, example and interaction variance; Satterthwaite's degrees "
           f"of freedom, Student's t), **non-inferior** when that bound is ≥ −{tol:.1f} points; **new seed passes**, "
           "the predictive probability that one more seed's Δ is ≥ the line (Student's t on the per-seed Δs). "
           "**SAFE share at k seeds**: the stability resamples extended with k − "
           f"{seeds} new seeds drawn from the spread these seeds show (with its uncertainty); at {seeds} seeds it is "
           "the stability figure. A verdict is **settled** when it holds in ≥ 95% of draws.", "",
           "| variant | verdict | mean Δ | lower 95% | non-inferior | new seed passes | "
           + " | ".join(f"SAFE at {k} seeds" + (f" ({size} ex.)" if len(sizes) > 1 else "")
                        for size in sizes for k in shown) + " | settled |",
           "|---|---|---|---|---|---|" + "---|" * (len(sizes) * len(shown)) + "---|"]
    wide = {name: e.mean_delta_df for name, e in found.items() if e.mean_delta_df is not None and e.mean_delta_df < FEW_DF}
    for name, e in found.items():
        s = verdict.summaries[name]
        cells = [pct(e.stability[size].get(k)) for size in sizes for k in shown]
        ni = "—" if e.non_inferior is None else ("yes" if e.non_inferior else "no")
        out.append(f"| {name} | {s.status} | {pts(s.mean_delta)} | "
                   f"{bound_pts(e.mean_delta_lower_95, e.seeds)}{' †' if name in wide else ''} | {ni} | "
                   f"{pct(e.p_new_seed_passes)} | {' | '.join(cells)} | {e.advice()} |")
    return out + ["", *_wide_bounds(seeds, wide, params.certify.confidence)]


def _wide_bounds(seeds: int, wide: dict[str, float], confidence: float) -> list[str]:
    """Why a lower bound can lie far below every seed's CI: the seed spread, known from few seeds."""
    if not wide:
        return []
    low, high = min(wide.values()), max(wide.values())
    df = f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}–{high:.1f}"
    return [f"† Wide because there are few seeds: the seed-to-seed spread is estimated from {seeds} seeds, leaving "
            f"{df} degrees of freedom, so the bound lies up to {evidence.t_multiplier(low, confidence):.1f} standard "
            f"errors below the mean (about {evidence.t_multiplier(math.inf, confidence):.2f} with many seeds). Each "
            "seed's CI reflects only "
            "the sampling of eval examples, not the seed-to-seed spread, which is why the bound can sit below every "
            "seed's CI. More seeds narrow it.", ""]


def _variant_section(params, name, summary, plans, sizes, missing, share) -> list[str]:
    tol = params.certify.tolerance
    stable = _stable(share, params.certify.bootstrap_resamples)
    out = [f"## {name}: **{summary.status}**" + (f" ({stable})" if stable else ""), ""]
    confidence = int(100 * params.certify.confidence)
    out += ["| seed | ranks | trainable params | reduction | accuracy | Δ (points) | SE | "
            f"{confidence}% CI | McNemar p | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.seeds:
        size = sizes.get((r.seed, name))
        ci = "—" if r.ci_low is None else f"[{pts(r.ci_low)}, {pts(r.ci_high)}]"
        p = "—" if r.mcnemar_p is None else f"{r.mcnemar_p:.3f}"
        params_n = size and size.trainable_parameters
        out.append(f"| {r.seed} | {rank_summary(plans[(r.seed, name)]) if plans.get((r.seed, name)) else name} | "
                   f"{'—' if params_n is None else f'{params_n:,}'} | {pct(size and size.reduction_vs_probe)} | "
                   f"{pct(r.accuracy)} | {pts(r.delta)} | {'—' if r.se is None else f'{100 * r.se:.1f}'} | {ci} | {p} | "
                   f"{r.status} |")
    for r in summary.seeds:
        why = [missing[(r.seed, n)] for n in ("probe", name) if (r.seed, n) in missing]
        if why:
            out.append(f"\nSeed {r.seed} is {r.status} (a failed seed): {'; '.join(why)}.")
    std = "—" if summary.std_delta is None else f"{100 * summary.std_delta:.1f}"
    out += ["", f"Across seeds: pass rate {summary.pass_rate:.2f}, worst Δ {pts(summary.worst_delta)}, "
            f"mean Δ {pts(summary.mean_delta)}, std {std} points → **{summary.status}**.",
            f"Non-inferiority reading (every seed's CI lower bound ≥ −{100 * tol:.1f}): "
            f"{'yes' if summary.non_inferior else 'no'} (reported beside the rule, not part of it)."]
    if summary.pass_rate_binding:
        passed = sum(r.passed for r in summary.seeds)
        out.append(f"The pass-rate condition decides here: every Δ clears the line, but missing or UNDERTRAINED seeds "
                   f"leave {passed} of {len(summary.seeds)} passing (pass rate {summary.pass_rate:.3f} < "
                   f"{params.certify.min_pass_rate:.2f}).")
    return out + [""]


def _claims_table(policy: Policy, verdict: Verdict) -> list[str]:
    out = [f"## Policy `{policy.name}` (v{policy.version}, scope {policy.scope.model_family}/{policy.scope.task})", ""]
    if not verdict.in_scope:
        out += ["This run is outside the policy's scope, so it cannot certify it.", ""]
    out += [f"Criteria differ from params: {d}" for d in verdict.criteria_differences]
    out += ["| claim | variant | expected | spec verdict | population verdict | outcome |", "|---|---|---|---|---|---|"]
    out += [f"| {c.claim} | {c.variant} | {c.expected} | {c.observed or '—'} | {c.population or '—'} | {c.outcome} |"
            for c in verdict.claims]
    return out + [""]


def _adapters_section(found: RunResults) -> list[str]:
    """Exactly which weights were judged: certify checked each against its evaluation and the file on disk."""
    if not found.adapters:
        return []
    out = ["## Adapters judged", "", "sha256 of each adapter's config and weights (`rankcert.inputs.sources.adapter_digest`), "
           "checked against the adapter on disk and the evaluation that made its predictions.", "",
           "| seed | adapter | sha256 |", "|---|---|---|"]
    out += [f"| {seed} | {name} | `{digest}` |" for (seed, name), digest in found.adapters.items()]
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
