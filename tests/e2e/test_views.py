"""DVC's views of the certificate fit a 160-column terminal on the demo workspace: a row per variant in
`dvc metrics show`, a row per changed key in `dvc metrics diff`, and the README's `dvc exp show` command."""
from __future__ import annotations

import pytest

from rankcert.runtime.layout import LAYOUT
from tests.helpers import PROJECT, runnable_blocks, sh, terminal

pytestmark = pytest.mark.e2e
WIDTH = 160


def shown(ws, *command: str) -> list[str]:
    """What `command` prints in a terminal WIDTH columns wide, checked to fit it."""
    lines = sh(ws, *command, env=terminal(WIDTH)).stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= WIDTH, "\n".join(lines)
    return lines


def test_metrics_show_is_a_row_per_variant_within_the_width(reproduced):
    ws, _ = reproduced
    rows = shown(ws, "dvc", "metrics", "show")
    variants = sorted(p.stem for p in (ws / LAYOUT.variant_metrics).glob("*.json"))
    paths = [row.split()[0] for row in rows[1:]]
    assert paths == [LAYOUT.certificate.as_posix()] + [f"{LAYOUT.variant_metrics.as_posix()}/{n}.json" for n in variants]
    assert rows[0].split() == ["Path", "certified", "level", "mean_delta", "population", "safe", "settled",
                               "share_lower", "spec", "worst_delta"]


def test_metrics_diff_from_before_any_certificate_fits(reproduced):
    """Against the workspace's first commit (no metrics yet) every key is a row: the widest diff there is."""
    ws, _ = reproduced
    first = sh(ws, "git", "rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
    rows = shown(ws, "dvc", "metrics", "diff", first)
    assert sum(row.split()[1:2] == ["spec"] for row in rows) == len(list((ws / LAYOUT.variant_metrics).glob("*.json")))


def test_the_readme_exp_show_command_shows_the_verdicts_of_each_experiment_uncut(reproduced):
    ws, _ = reproduced
    command = next(line.split("#")[0].strip() for block in runnable_blocks() if block.where.startswith("README.md")
                   for line in block.code.splitlines() if line.startswith("dvc exp show"))
    rows = sh(ws, "bash", "-c", command, env=terminal(WIDTH)).stdout.splitlines()
    assert max(len(row) for row in rows) <= WIDTH and "…" not in "\n".join(rows), "\n".join(rows)
    assert ["Experiment", "certified", "level", "safe", "settled"] == [
        word for word in rows[1].split() if word], rows
    assert (PROJECT / "README.md").read_text().count(command) == 1
