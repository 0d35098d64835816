"""End to end on the demo profile: dvc repro, no-op repro, certify-only rerun, metrics diff, plots."""
import json
import re

import pytest
import yaml

from rankcert.runtime.layout import LAYOUT
from tests.e2e.conftest import read_certificate
from tests.helpers import commit, headless_browser, ran_stages, rendered_dom, sh, terminal, touched_stages
from tests.reporting.test_plotpage import REMOTE_SRC

pytestmark = pytest.mark.e2e


def test_first_repro_runs_every_stage_and_writes_every_output(reproduced):
    ws, output = reproduced
    stages = ran_stages(output)
    seeds, variants = [42, 123], ["per_layer", "uniform_r20", "uniform_r24", "uniform_r16", "truncated_per_layer"]
    expected = {"code", "validate", "track@model", "track@data", "plots_page", "certify"}
    expected |= {f"{step}@{s}" for s in seeds for step in ("prepare", "probe", "compress", "evaluate")}
    assert set(stages) == expected and len(stages) == len(expected) == 14
    for s in seeds:
        assert (ws / f"data/probe/{s}/adapter/adapter_model.safetensors").is_file()
        assert (ws / f"data/probe/{s}/spectra.json").is_file()
        for v in variants:
            plan = json.loads((ws / f"data/variants/{s}/{v}/plan.json").read_text())
            assert len(plan["ranks"]) == 8  # every target module of the 2-layer demo model named
            assert (ws / f"data/eval/{s}/{v}.csv").is_file() and (ws / f"metrics/eval/{s}/{v}.json").is_file()
    result = read_certificate(ws)
    assert result.metrics.level == "screening+" and result.metrics.certified is False
    assert set(result.metrics.variants) == set(variants)
    report = (ws / "metrics/report.md").read_text()
    assert report.startswith("# rankcert certification")
    assert "## Frontier" in report and "## Truncation vs retraining" in report and "joint resamples" in report
    assert result.details.frontier.safe_variants == sum(v.spec == "SAFE" for v in result.metrics.variants.values())
    assert 0.0 <= result.details.variants["truncated_per_layer"].stability <= 1.0
    assert "Running stage" in output and "[certify]" in output
    # the first read declared the plan: a file tracked in git (the demo commits it), its hash in the certificate
    reading = result.details.plan
    assert reading.exploratory is None and reading.declared.looks == [2, 4, 8]
    assert reading.declared.seeds[:3] == [42, 123, 1000] and [look.seeds for look in reading.looks] == [[42, 123]]
    assert sh(ws, "git", "ls-files", LAYOUT.certify_plan.as_posix(), LAYOUT.certify_looks.as_posix()).stdout.split() == [
        LAYOUT.certify_looks.as_posix(), LAYOUT.certify_plan.as_posix()]


def test_uniform_plans_hold_their_rank_and_per_layer_follows_the_spectra(reproduced):
    ws, _ = reproduced
    plan = json.loads((ws / "data/variants/42/uniform_r20/plan.json").read_text())
    assert set(plan["ranks"].values()) == {20}
    per_layer = json.loads((ws / "data/variants/42/per_layer/plan.json").read_text())
    allowed = [2, 4, 8, 16, 20, 24, 32]
    for module, rank in per_layer["ranks"].items():
        energy = per_layer["energy_ranks"][module]
        assert rank == min([r for r in allowed if r >= energy] or [32])


def test_second_repro_runs_nothing(reproduced):
    ws, _ = reproduced
    result = sh(ws, "dvc", "repro")
    assert ran_stages(result.stdout) == []
    assert "dvc.yaml" not in sh(ws, "dvc", "status").stdout or "up to date" in sh(ws, "dvc", "status").stdout


def test_changing_certify_thresholds_reruns_only_validate_and_certify_and_metrics_diff_rows_each_flip(reproduced):
    ws, _ = reproduced
    before, original = read_certificate(ws).metrics, (ws / "params.yaml").read_text()
    before_details = read_certificate(ws).details
    params = yaml.safe_load(original)
    # every seed passes and every probe clears the gate, in every resample: every variant SAFE, stability 1
    params["certify"].update(tolerance=0.99, probe_min_accuracy=0.0)
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    declared = (ws / LAYOUT.certify_plan).read_bytes()
    result = sh(ws, "dvc", "repro")
    assert ran_stages(result.stdout) == ["validate", "certify"]
    commit(ws, "wide thresholds")
    after = read_certificate(ws)
    assert after.details.policy.criteria_match is False  # the policy says 0.025
    # the plan file persists through `dvc repro` (DVC keeps it for certify to read): the tolerance changed after
    # the first look was read, so this read is exploratory, and the plan and its looks stay as they were
    assert (ws / LAYOUT.certify_plan).read_bytes() == declared
    assert after.details.plan.exploratory == "the plan changed after look(s) were read: tolerance 0.025 → 0.99"
    assert after.metrics.certified is False and len(after.details.plan.looks) == 1
    assert all(v.spec == "SAFE" for v in after.metrics.variants.values())
    assert all(v.stability == 1.0 for v in after.details.variants.values())
    flipped = sorted(f"{LAYOUT.variant_metrics.as_posix()}/{name}.json" for name, v in before.variants.items()
                     if v.spec != "SAFE")
    changed = json.loads(sh(ws, "dvc", "metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert flipped and sorted(path for path, keys in changed.items() if "spec" in keys) == flipped
    # the table a user reads: each flip a row of its own (the variant's file, `spec`, before, after), in a terminal
    table = sh(ws, "dvc", "metrics", "diff", "HEAD~1", "HEAD", env=terminal()).stdout.splitlines()
    assert sorted(row.split()[0] for row in table if row.split()[1:4] == ["spec", "UNSAFE", "SAFE"]) == flipped
    assert max(len(row) for row in table) <= 160, table
    # restore, so later tests see the committed first run's params
    (ws / "params.yaml").write_text(original)
    assert touched_stages(sh(ws, "dvc", "repro").stdout) == ["validate", "certify"]  # validate: from the run-cache
    commit(ws, "restore")
    assert read_certificate(ws).details == before_details  # the declared plan again: its look, read once


def test_dvc_plots_show_renders_every_plot_from_a_page_with_no_remote_script(reproduced):
    ws, _ = reproduced
    sh(ws, "dvc", "plots", "show")
    html = (ws / "dvc_plots" / "index.html").read_text()
    for title in ("training loss per step", "delta vs probe", "per_layer rank plan", "singular-value spectra"):
        assert title in html
    for field in ('"series"', '"ci_low"', '"rank"', '"singular_value"'):
        assert field in html
    assert not REMOTE_SRC.search(html) and "cdn.jsdelivr" not in html and "window.vegaEmbed=" in html
    assert sh(ws, "git", "status", "--porcelain").stdout == ""  # dvc_plots/ is ignored, plots/page.html DVC's


def test_the_plots_page_renders_every_plot_in_a_headless_browser_with_no_network(reproduced):
    ws, _ = reproduced
    browser = headless_browser()
    if browser is None:
        pytest.skip("no headless browser installed (looked for chromium-headless-shell, chromium, google-chrome); "
                    "`apt-get install chromium-headless-shell` runs this check")
    sh(ws, "dvc", "plots", "show")
    plots = len(yaml.safe_load((ws / "dvc.yaml").read_text())["plots"])
    dom = rendered_dom(browser, ws / "dvc_plots" / "index.html")
    assert dom.count('class="vega-embed') == plots  # vega-embed ran on every plot div
    assert len(re.findall(r'<svg[^>]*class="marks"', dom)) == plots  # and each drew its chart


def test_a_changed_byte_in_a_local_input_folder_shows_in_dvc_status(reproduced):
    ws, _ = reproduced
    data = ws / "assets" / "sst2" / "validation.jsonl"
    original = data.read_bytes()
    data.write_bytes(original.replace(b'"label":1', b'"label":0', 1))  # flip one eval label
    try:
        status = sh(ws, "dvc", "status").stdout
        assert "track@data" in status and "modified" in status and "track@model" not in status
    finally:
        data.write_bytes(original)
    assert "up to date" in sh(ws, "dvc", "status").stdout
