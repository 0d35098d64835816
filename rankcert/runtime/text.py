"""Small text formats shared by the report, the stages and the release gate (no heavy imports)."""
from __future__ import annotations

from collections import Counter

MISSING = "—"


def pct(x: float | None) -> str:
    """0.826 → '82.6%'."""
    return MISSING if x is None else f"{100 * x:.1f}%"


def pts(x: float | None) -> str:
    """A Δ of accuracies in signed points: -0.026 → '-2.6'."""
    return MISSING if x is None else f"{100 * x:+.1f}"


def bound_pts(x: float | None, seeds: int) -> str:
    """A lower bound on a Δ in signed points, or "no bound yet at n seeds" where it says nothing: a Δ of accuracies
    is never below −100 points, and with few seeds a t-based bound can lie far below that."""
    return f"no bound yet at {seeds} seeds" if x is not None and x <= -1 else pts(x)


def rank_summary(ranks: dict[str, int]) -> str:
    """How many modules have each rank: 'r2×14, r4×3, r16×5'."""
    counts = Counter(ranks.values())
    return ", ".join(f"r{r}×{counts[r]}" for r in sorted(counts))


def label_names(num_labels: int) -> str:
    """'0 or 1', '0, 1 or 2', ...: the labels a model with `num_labels` outputs predicts."""
    return ", ".join(map(str, range(num_labels - 1))) + f" or {num_labels - 1}"


def quoted(value: object, limit: int = 60) -> str:
    """A value as an error quotes it, cut short: a megabyte of YAML must not become a megabyte of error."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"
