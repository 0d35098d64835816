"""The certify stage on fixture predictions: the policy regression tests run the real code end to end."""
import json
import shutil

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from rankcert.certification import certificate
from rankcert.config.entrypoint import run_main
from rankcert.config.params import load_params
from rankcert.config.variants import parse_variant
from rankcert.inputs import sources
from rankcert.runtime.layout import LAYOUT
from rankcert.training import identity
from stages import certify
from tests.helpers import PROJECT, stand_in_training, write_stand_in_manifest, write_stand_in_run

SEEDS = [42, 123, 456, 789, 1011]  # five: the fewest whose count can settle a population verdict (share 0.5, one look)
N = 500


def make_run(root, deltas: dict[str, list[float]], probe_correct=410, steps=500, seeds=SEEDS, skip=(),
             policy=None, looks=None):
    """A data tree with per-example predictions whose Δ per variant and seed are exactly `deltas` (a list shorter
    than the seeds: its first Δ for the seeds after it)."""
    params = yaml.safe_load(open(PROJECT / "params.yaml"))
    params["seeds"] = seeds
    params["certify"]["population"].update(share=0.5, looks=looks or [max(2, len(seeds))])  # all of 5 pass: SAFE (0.5⁵ < 5%)
    params["train"]["steps"] = steps
    params["certify"]["bootstrap_resamples"] = 2000  # the demo profile's count: fast (the cost of each certify
    # here is its joint resamples), and the tests built on these runs check verdicts no resample count changes
    params["certify"]["policy"] = policy or str(root / "policy.yaml")
    (root / "policy.yaml").write_text(open(PROJECT / "policies/safe_uniform.yaml").read())
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    if not (root / "plots" / "templates").exists():
        shutil.copytree(PROJECT / "plots" / "templates", root / "plots" / "templates")
    labels = np.ones(N, dtype=int)
    for seed in seeds:
        _write_prepared(root, seed, labels)
        _write_pred(root, seed, "probe", labels, probe_correct)
        for name, per_seed in deltas.items():
            if (seed, name) in skip:
                continue
            _write_pred(root, seed, name, labels, probe_correct + round(_at(per_seed, seeds.index(seed)) * N))
    return root


def _at(per_seed: list[float], i: int) -> float:
    return per_seed[i] if i < len(per_seed) else per_seed[0]


def _write_prepared(root, seed, labels):
    """What prepare writes about the eval set: its labels and its manifest (the same eval sample for every seed)."""
    folder = root / "data" / "prepared" / str(seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"labels": labels.astype(np.int64)}, str(folder / "eval.safetensors"))
    write_stand_in_manifest(folder, load_params(root / "params.yaml"), seed, N)


def _write_pred(root, seed, name, labels, n_correct):
    path = root / "data" / "eval" / str(seed) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pred = np.where(np.arange(N) < n_correct, 1, 0)
    rows = ["index,label,prediction"] + [f"{i},{y},{p}" for i, (y, p) in enumerate(zip(labels, pred))]
    path.write_text("\n".join(rows) + "\n")
    correct = int((pred == labels).sum())
    metrics = root / "metrics" / "eval" / str(seed) / f"{name}.json"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"adapter_sha256": write_adapter(root, seed, name),
                                   "predictions_sha256": sources.file_sha256(path),
                                   "accuracy": correct / N, "correct": correct, "examples": N,
                                   "trainable_parameters": 1000, "reduction_vs_probe": 0.0}))


def write_adapter(root, seed, name, weights: bytes | None = None, steps: int | None = None) -> str:
    """A stand-in adapter folder (certify reads its bytes and its config's ranks) and its run record, trained
    as params say unless `steps` says otherwise: its digest."""
    folder = root / LAYOUT.adapter(seed, name)
    folder.mkdir(parents=True, exist_ok=True)
    rank = 32 if name == "probe" else _named_rank(name) or 8
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "target_modules": ["l0.q", "l0.v"]}))
    (folder / "adapter_model.safetensors").write_bytes(weights or f"{seed}:{name}".encode())
    params = load_params(root / "params.yaml")
    write_stand_in_run(folder.parent, name, seed, identity.base_model(params.model),
                       stand_in_training(params, seed, steps))
    return sources.adapter_digest(folder)


def read_certificate(root) -> certificate.Certificate:
    return certificate.read(root / LAYOUT.certificate, root / LAYOUT.certificate_details)


def run_certify(root, monkeypatch, strict=True):
    monkeypatch.chdir(root)
    try:
        certify.main(["--strict"] if strict else [])
    except SystemExit as stop:
        return stop.code
    return 0


ALL_OK = {"per_layer": [0.0, -0.002, 0.0], "uniform_r24": [0.0, 0.0, 0.0], "uniform_r20": [-0.008] * 3,
          "uniform_r16": [-0.04, -0.03, -0.05]}


def test_spec_safe_with_an_unsettled_population_verdict_is_not_certified(tmp_path, monkeypatch):
    """Four seeds that all pass: the spec rule says SAFE about them; about the next run nothing is settled (four
    passes of four happen with chance 6% when only half of all runs pass), so the certificate says so instead of
    certifying the claim."""
    make_run(tmp_path, {**ALL_OK, "per_layer": [0.0, -0.004, 0.002]}, seeds=SEEDS[:4])
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    per_layer = result.metrics.variants["per_layer"]
    assert per_layer.spec == "SAFE" and per_layer.population == "UNSETTLED"
    found = result.details.variants["per_layer"].population
    assert found.looks_used == 1 and (found.passed, found.safe_at) == (4, 5)  # SAFE would need 5 of 4
    assert result.details.policy.claims_unsettled == 7  # every claim: four seeds settle none
    report = (tmp_path / "metrics" / "report.md").read_text()
    assert "policy claim unsettled: per_layer is SAFE" in report
    assert "- per_layer: the spec rule says SAFE about these 4 runs; the population verdict is UNSETTLED (4/4" in report


def test_policy_agrees_at_small_deltas_and_run_is_certified(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK)
    assert run_certify(tmp_path, monkeypatch) == 0
    result = read_certificate(tmp_path)
    metrics = result.metrics
    assert metrics.certified is True and metrics.level == "certifiable"
    assert metrics.variants["uniform_r20"].spec == "SAFE"
    assert metrics.variants["uniform_r20"].worst_delta == pytest.approx(-0.008)
    assert metrics.variants["uniform_r16"].spec == "UNSAFE"
    report = (tmp_path / "metrics" / "report.md").read_text()
    assert report.startswith("# rankcert certification: **CERTIFIED**")
    assert "- model: distilbert-base-uncased (hub, revision main)" in report  # the hub revision is on record
    for plot in ("loss", "delta", "frontier", "rank_plan", "spectra"):
        assert (tmp_path / "plots" / "data" / f"{plot}.csv").is_file()
    assert result.details.frontier.smallest_safe_uniform_rank == 20
    assert result.details.variants["uniform_r20"].stability > 0.5 > result.details.variants["uniform_r16"].stability
    assert "## Frontier" in report and "(figures/frontier.png)" in report
    assert (tmp_path / "metrics" / "figures" / "frontier.png").read_bytes().startswith(b"\x89PNG")
    # the Δ picture is rendered from the same template as `dvc plots`, and embedded right under the verdict
    delta_png = (tmp_path / "metrics" / "figures" / "delta.png").read_bytes()
    assert delta_png.startswith(b"\x89PNG") and len(delta_png) > 10_000
    assert "![Δ vs probe with paired bootstrap CI; the dashed line is the tolerance](figures/delta.png)" in report
    assert not (tmp_path / "metrics" / "figures" / "rank_plan.png").exists()  # no per_layer plans in this fixture


def test_figures_fill_the_dvc_templates(tmp_path):
    from rankcert.reporting import figures

    rows = [{"variant": "uniform_r20", "seed": "42", "delta": -0.8, "ci_low": -2.0, "ci_high": 0.4, "threshold": -2.5}]
    spec = figures.vega_lite(PROJECT / "plots" / "templates" / "delta_ci.json", "t", rows)
    assert spec["data"]["values"] == [dict(rows[0], rev="workspace")] and spec["title"] == "t"
    assert "<DVC" not in json.dumps(spec)
    assert figures.render_png(spec) == figures.render_png(spec)  # same spec, same bytes


def test_r20_at_minus_3_points_on_one_seed_leaves_the_policy_unsettled_not_contradicted(tmp_path, monkeypatch):
    """One failed run of five: the spec rule says UNSAFE about these runs, but the claim is about runs in general
    (share 0.5 here): four passes of five settle nothing, so the claim is unsettled, not contradicted."""
    deltas = dict(ALL_OK, uniform_r20=[-0.008, -0.030, -0.008])
    make_run(tmp_path, deltas)
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    assert result.metrics.certified is False
    assert result.metrics.variants["uniform_r20"].spec == "UNSAFE"
    assert result.details.variants["uniform_r20"].seeds[123].status == "FAIL"
    assert result.details.policy.claims_contradicted == 0 and result.details.policy.claims_unsettled == 2
    assert ("policy claim unsettled: uniform_r20 is SAFE and primary uniform rank 20 is SAFE (observed UNSAFE"
            in (tmp_path / "metrics" / "report.md").read_text())


def test_a_collapsed_run_is_named_and_counts_as_a_failed_run(tmp_path, monkeypatch):
    make_run(tmp_path, dict(ALL_OK, uniform_r24=[0.0, -0.32, 0.0]))  # seed 123 falls 32 points below its others
    run_certify(tmp_path, monkeypatch, strict=False)
    result = read_certificate(tmp_path)
    [run] = result.details.collapses.runs
    assert (run.seed, run.adapter, run.why) == (123, "uniform_r24", "far below its seed")
    assert result.details.variants["uniform_r24"].seeds[123].status == "FAIL"
    rate = result.details.collapses.rates["uniform_r24"]
    assert (rate.collapsed, rate.runs, rate.low) == (1, 5, 0.005051)
    report = (tmp_path / "metrics" / "report.md").read_text()
    assert "## Collapsed runs" in report and f"- {run.line()}" in report
    assert "| uniform_r24 | 1 of 5 | 20.0% | 0.5% to 71.6% |" in report


def test_r16_claimed_unsafe_is_contradicted_when_it_passes(tmp_path, monkeypatch):
    make_run(tmp_path, dict(ALL_OK, uniform_r16=[-0.01, 0.0, -0.02]))
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    assert result.metrics.variants["uniform_r16"].spec == "SAFE"
    assert result.details.policy.claims_contradicted == 2  # "uniform_r16 is UNSAFE" and "rank 16 avoided"


def test_exactly_minus_tolerance_passes_end_to_end(tmp_path, monkeypatch):
    make_run(tmp_path, dict(ALL_OK, uniform_r20=[-0.025, -0.025, -0.025]))
    assert run_certify(tmp_path, monkeypatch) == 0


def test_missing_variant_for_a_seed_fails_that_seed_and_is_reported(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK, skip={(456, "uniform_r24")}, seeds=SEEDS[:3])
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    r24 = result.details.variants["uniform_r24"]
    assert r24.seeds[456].status == "MISSING" and r24.pass_rate == pytest.approx(2 / 3, abs=1e-6)
    assert result.metrics.variants["uniform_r24"].spec == "UNSAFE"
    section = (tmp_path / "metrics" / "report.md").read_text().split("## uniform_r24")[1]
    assert "| 456 |" in section and "Seed 456 is MISSING (a failed seed): " in section
    assert "data/eval/456/uniform_r24.csv not found" in section


def _rewrite(path, edit):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


TAMPERING = [
    ("a row removed", lambda lines: lines[:-1], "has 499 rows; the prepared eval set has 500"),
    ("a label flipped", lambda lines: [lines[0], "0,0,1", *lines[2:]], "row 0: label is 0, the prepared eval set says 1"),
    ("rows reordered", lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "row 0: index is 1"),
    ("predictions set to the labels", lambda lines: [lines[0]] + [f"{i},1,1" for i in range(N)],
     "says 410/500 correct (accuracy 0.82), its predictions give 500/500"),
    ("not a CSV of predictions", lambda lines: ["a,b", "1,2"], "expected integer columns ['index', 'label', 'prediction']"),
]


@pytest.mark.parametrize("label,edit,message", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_certify_refuses_predictions_that_disagree_with_what_was_prepared_and_evaluated(
        tmp_path, monkeypatch, capsys, label, edit, message):
    make_run(tmp_path, ALL_OK)
    _rewrite(tmp_path / "data" / "eval" / "123" / "probe.csv", edit)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        run_main(certify.main, [])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err
    assert "data/eval/123/probe.csv (seed 123)" in err or "metrics/eval/123/probe.json (seed 123)" in err
    assert message in err
    assert not (tmp_path / "metrics" / "certify.json").exists()


def test_hand_edited_eval_metrics_are_refused(tmp_path, monkeypatch, capsys):
    make_run(tmp_path, ALL_OK)
    path = tmp_path / "metrics" / "eval" / "42" / "uniform_r20.json"
    path.write_text(path.read_text().replace('"correct": 406', '"correct": 450'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        run_main(certify.main, [])
    assert "metrics/eval/42/uniform_r20.json (seed 42) says 450/500 correct" in capsys.readouterr().err


def test_all_seeds_undertrained_is_never_certified(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK, probe_correct=300)  # probe accuracy 0.60 < 0.75
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    assert result.details.probe.gate_passed is False and result.details.probe.undertrained_seeds == len(SEEDS)
    assert all(v.pass_rate == 0.0 for v in result.details.variants.values())
    assert all(v.spec == "UNSAFE" for v in result.metrics.variants.values())


def test_single_seed_short_run_is_screening_and_not_certified(tmp_path, monkeypatch):
    make_run(tmp_path, {k: v[:1] for k, v in ALL_OK.items()}, seeds=[42], steps=100)
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    assert result.metrics.level == "screening" and result.details.variants["uniform_r20"].std_delta is None


def test_certify_output_is_byte_identical_across_runs(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK)
    run_certify(tmp_path, monkeypatch)
    files = [tmp_path / LAYOUT.certificate, tmp_path / LAYOUT.certificate_details, tmp_path / LAYOUT.report]
    first = [path.read_bytes() for path in files]
    run_certify(tmp_path, monkeypatch)
    assert [path.read_bytes() for path in files] == first


def test_a_failure_while_certifying_leaves_every_earlier_output_as_it_was(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK)
    run_certify(tmp_path, monkeypatch)
    outputs = ["metrics/certify.json", "metrics/certify_details.json", "metrics/report.md", "plots/data/delta.csv",
               "metrics/figures/delta.png"]
    before = {p: (tmp_path / p).read_bytes() for p in outputs}
    make_run(tmp_path, dict(ALL_OK, uniform_r20=[-0.03] * 3))  # a different result, then a failure mid-way

    def broken(out, made, metrics, details):  # the metrics file staged, then the disk fills
        out.text(metrics, "{}")
        raise OSError("no space left on device")

    monkeypatch.setattr(certificate, "write", broken)
    with pytest.raises(OSError):
        run_certify(tmp_path, monkeypatch)
    assert {p: (tmp_path / p).read_bytes() for p in outputs} == before  # old plots and metrics, not a mix


ADAPTER_TAMPERING = [
    ("flipped bytes in the weights", lambda a: (a / "adapter_model.safetensors").write_bytes(b"other weights"),
     "data/variants/123/uniform_r20/adapter is not the adapter its stage wrote"),
    ("alpha changed in the config", lambda a: (a / "adapter_config.json").write_text(
        '{"r": 20, "target_modules": ["l0.q", "l0.v"], "alpha": 320}'),
     "data/variants/123/uniform_r20/adapter is not the adapter its stage wrote"),
    ("retrained after it was evaluated", lambda a: write_adapter(a.parents[4], 123, "uniform_r20", b"retrained"),
     "data/variants/123/uniform_r20/adapter (seed 123) is not the adapter these predictions are of"),
]


@pytest.mark.parametrize("label,tamper,message", ADAPTER_TAMPERING, ids=[t[0] for t in ADAPTER_TAMPERING])
def test_certify_refuses_predictions_of_other_weights_than_the_adapter_on_disk(tmp_path, monkeypatch, capsys, label,
                                                                             tamper, message):
    make_run(tmp_path, ALL_OK)
    tamper(tmp_path / LAYOUT.adapter(123, "uniform_r20"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        run_main(certify.main, [])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and message in err
    assert not (tmp_path / "metrics" / "certify.json").exists()


def test_predictions_rewritten_after_evaluation_are_refused(tmp_path, monkeypatch, capsys):
    make_run(tmp_path, ALL_OK)
    path = tmp_path / "data" / "eval" / "42" / "per_layer.csv"
    path.write_text(path.read_text().replace("\n", "\r\n"))  # the same rows, other bytes
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        run_main(certify.main, [])
    assert "data/eval/42/per_layer.csv (seed 42) is not the file evaluate@42 wrote" in capsys.readouterr().err


def test_the_certificate_names_each_adapter_it_judged_by_hash(tmp_path, monkeypatch):
    make_run(tmp_path, ALL_OK)
    run_certify(tmp_path, monkeypatch, strict=False)
    result = read_certificate(tmp_path).details
    digest = sources.adapter_digest(tmp_path / LAYOUT.adapter(456, "uniform_r24"))
    assert result.variants["uniform_r24"].seeds[456].adapter_sha256 == digest
    assert result.probe.seeds[42].adapter_sha256 == sources.adapter_digest(tmp_path / LAYOUT.adapter(42, "probe"))
    assert f"| 456 | uniform_r24 | `{digest}` |" in (tmp_path / "metrics" / "report.md").read_text()


def _named_rank(name: str) -> int | None:
    """The rank a uniform variant's name says (also through truncated_), else None."""
    variant = parse_variant(name)
    return (variant.truncates or variant).uniform_rank


def test_params_changed_after_the_stages_ran_are_not_the_recipe_the_certificate_states(tmp_path, monkeypatch, capsys):
    """The issue's stale recipe: the stages ran 200 steps; params now say 500 and certify runs alone (as `dvc
    repro -s certify` does). The level is what ran, each disagreement is a line, and nothing is certified."""
    make_run(tmp_path, ALL_OK, steps=200, seeds=SEEDS[:3])
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"].update(steps=500, lr=1e-4)
    params["data"]["eval_size"] = 600
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert run_certify(tmp_path, monkeypatch) == 1
    result = json.loads((tmp_path / "metrics" / "certify.json").read_text())
    assert result["certified"] is False and result["level"] == "screening+"  # by params it would be certifiable
    report = (tmp_path / "metrics" / "report.md").read_text()
    assert "- validation level is screening+ (200 steps < 500)" in report
    stale, printed = "(`dvc repro` reruns what is stale)", capsys.readouterr().out
    for line in ["probe@42, compress@42, probe@123, compress@123, probe@456 and 1 more trained 200 steps; params say "
                 "train.steps 500",
                 "probe@42, compress@42, probe@123, compress@123, probe@456 and 1 more trained with train.lr 5e-05; "
                 "params say train.lr 0.0001",
                 "evaluate@42, evaluate@123, evaluate@456 evaluated 500 examples; params say data.eval_size 600"]:
        assert f"- the run's records disagree with params: {line} {stale}" in report
        assert f"[certify]   the run's records disagree with params: {line}" in printed
    assert "- training: 200 steps, batch 8, lr 5e-05, fp32" in report  # the recipe that ran, not params'
    assert "(2000 train drawn per seed, first 500 of validation)" in report


def test_a_run_record_edited_by_hand_is_refused(tmp_path, monkeypatch, capsys):
    make_run(tmp_path, ALL_OK, steps=200)
    path = tmp_path / LAYOUT.run(123, "uniform_r20") / "run.json"
    path.write_text(path.read_text().replace('"steps": 200', '"steps": 500'))  # as if trained as the spec says
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        run_main(certify.main, [])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err
    assert ("data/variants/123/uniform_r20/run.json was edited after its stage wrote it (it claims to be "
            "'uniform_r20' of seed 123, but its record_sha256 doesn't cover that)") in err
    assert not (tmp_path / "metrics" / "certify.json").exists()


def test_a_study_of_one_variant_runs_under_the_whole_policy_and_its_other_claims_are_not_measured(tmp_path, monkeypatch):
    """`variants: [uniform_r16]` with the shipped policy: nothing refused, the run not certified, a line per
    variant not run (however many claims name it), the measured variant's claim checked as usual."""
    make_run(tmp_path, {"uniform_r16": ALL_OK["uniform_r16"]})
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["variants"] = ["uniform_r16"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert run_certify(tmp_path, monkeypatch) == 1
    result = read_certificate(tmp_path)
    assert list(result.metrics.variants) == ["uniform_r16"] and result.metrics.variants["uniform_r16"].spec == "UNSAFE"
    assert [r.text for r in result.details.reasons] == [
        "policy claim not measured: per_layer is SAFE (params.yaml variants do not include it: add it to certify the "
        "claim)",
        "policy claim not measured: uniform_r24 is SAFE and conservative uniform rank 24 is SAFE (params.yaml "
        "variants do not include it: add it to certify the claim)",
        "policy claim not measured: uniform_r20 is SAFE and primary uniform rank 20 is SAFE (params.yaml variants "
        "do not include it: add it to certify the claim)"]
    assert {r.kind for r in result.details.reasons} == {"claim not measured"}
    assert result.details.policy.claims_not_measured == 5 and result.details.policy.claims_agree == 2
    assert "- policy claim not measured: per_layer is SAFE" in (tmp_path / "metrics" / "report.md").read_text()
