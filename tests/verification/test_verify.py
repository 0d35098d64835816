"""rankcert verify on fixture predictions: an untouched certificate is verified; each kind of tampered figure or
file is the one mismatch line (exit 1); a file not pulled is bad input (exit 2)."""
import json
import shutil

import pytest
import yaml

from rankcert.config.entrypoint import run_main
from rankcert.inputs.sources import adapter_digest
from rankcert.runtime.layout import Layout
from rankcert.tools import verify
from tests.stages.test_certify import ALL_OK, SEEDS, make_run, run_certify

DETAILS, METRICS = "metrics/certify_details.json", "metrics/certify.json"
PLAN, LOOKS = "metrics/certify_plan.json", "metrics/certify_looks.json"


@pytest.fixture(scope="module")
def certified(tmp_path_factory):
    """A certified run (five seeds, every claim agrees), certify's outputs written; tests change copies of it."""
    root = tmp_path_factory.mktemp("verify") / "run"
    root.mkdir()
    make_run(root, ALL_OK)
    _edit_yaml(root / "params.yaml", lambda p: p["certify"].update(bootstrap_resamples=1000))  # fast, same checks
    with pytest.MonkeyPatch.context() as patch:
        assert run_certify(root, patch) == 0
    return root


@pytest.fixture
def run(certified, tmp_path):
    shutil.copytree(certified, tmp_path / "run")
    return tmp_path / "run"


def run_verify(root, capsys) -> tuple[int, str]:
    """(exit code, the first line verify printed)."""
    try:
        run_main(verify.main, ["--root", str(root)])
        code = 0
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, (out.out + out.err).splitlines()[0]


def _edit_yaml(path, edit):
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))


def _edit_json(path, keys, value):
    data = json.loads(path.read_text())
    inner = data
    for key in keys[:-1]:
        inner = inner[key]
    inner[keys[-1]] = value(inner[keys[-1]]) if callable(value) else value
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def test_an_untouched_certificate_is_verified(run, capsys):
    code, line = run_verify(run, capsys)
    assert code == 0, line
    assert line.startswith("verified: 5 seeds, 4 variants, ") and "no dvc.lock" in line and "not re-derived: " in line


TAMPERED = [  # (file, key path, new value, what the mismatch line says the file states and the data give)
    (DETAILS, "variants.uniform_r20.seeds.123.delta", -0.012, "is -0.012, the predictions give -0.008"),
    (DETAILS, "variants.uniform_r20.seeds.123.ci_low", lambda v: round(v - 0.001, 6), "the predictions give"),
    (DETAILS, "variants.uniform_r24.seeds.456.mcnemar_p", 0.5, "is 0.5, the predictions give 1.0"),
    (DETAILS, "variants.per_layer.seeds.42.adapter_sha256", "0" * 64,
     f"is {'0' * 64}, the files in data/variants/42/per_layer/adapter hash to "),
    (DETAILS, "probe.seeds.789.adapter_sha256", "f" * 64, "the files in data/probe/789/adapter hash to "),
    ("metrics/variants/per_layer.json", "share_lower", 0.9, "is 0.9, the predictions give 0.54928"),
    (DETAILS, "variants.uniform_r16.evidence.p_new_seed_passes", 0.5, "is 0.5, the predictions give"),
    (DETAILS, "frontier.smallest_safe_uniform_rank", 24, "is 24, the predictions give 20"),
    (DETAILS, "level_reasons", ["5 seeds"], "the run records give ['5 seeds, 500 steps, 2000/500 examples']"),
    ("metrics/variants/uniform_r16.json", "spec", "SAFE", "is SAFE, the predictions give UNSAFE"),
    ("metrics/variants/uniform_r20.json", "population", "UNSETTLED", "is UNSETTLED, the predictions give SAFE"),
    ("metrics/variants/per_layer.json", "mean_delta", 0.001, "is 0.001, the predictions give -0.0004"),
    (DETAILS, "variants.uniform_r20.stability", 0.2, "is 0.2, the predictions give"),
    (METRICS, "level", "screening", "is screening, the run records give certifiable"),
    (DETAILS, "collapses.rates.uniform_r16.collapsed", 1, "is 1, the predictions give 0"),
]


def test_a_collapse_hidden_from_the_certificate_is_named(run, capsys, monkeypatch):
    make_run(run, dict(ALL_OK, uniform_r24=[0.0, -0.32, 0.0]))  # seed 123's r24 falls 32 points below its others
    run_certify(run, monkeypatch, strict=False)
    assert run_verify(run, capsys)[0] == 0
    _edit_json(run / DETAILS, ["collapses", "runs"], [])
    code, line = run_verify(run, capsys)
    assert code == 1 and line.startswith(f"mismatch: {DETAILS}: collapses.runs is [], the predictions give "
                                         '["uniform_r24 seed 123: '), line


@pytest.mark.parametrize("path, key, value, says", TAMPERED, ids=[t[1] for t in TAMPERED])
def test_a_tampered_figure_is_the_one_mismatch_named(run, capsys, path, key, value, says):
    _edit_json(run / path, key.split("."), value)
    if path.startswith("metrics/variants/"):  # a careful tamperer keeps the run file's counts in step
        variants = [json.loads(f.read_text()) for f in (run / "metrics/variants").glob("*.json")]
        _edit_json(run / METRICS, ["safe"], sum(v["spec"] == "SAFE" for v in variants))
        _edit_json(run / METRICS, ["settled"], sum(v["population"] == v["spec"] for v in variants))
    code, line = run_verify(run, capsys)
    assert code == 1
    assert line.startswith(f"mismatch: {path}: {key} ") and says in line, line


def test_a_certified_flag_its_reasons_do_not_support_is_a_mismatch(run, capsys):
    _edit_json(run / METRICS, ["certified"], False)
    code, line = run_verify(run, capsys)
    assert code == 1 and line.startswith("mismatch: ") and "says certified False but" in line


def test_a_changed_prediction_row_is_named_by_the_figure_it_moves(run, capsys):
    path = run / "data/eval/123/uniform_r20.csv"
    lines = path.read_text().splitlines()
    assert lines[1] == "0,1,1"  # a correct prediction: wrong now
    path.write_text("\n".join([lines[0], "0,1,0", *lines[2:]]) + "\n")
    code, line = run_verify(run, capsys)
    assert code == 1
    assert line == ("mismatch: metrics/certify_details.json: variants.uniform_r20.seeds.123.accuracy is 0.812, "
                    "the predictions give 0.81")


def test_a_changed_adapter_file_no_longer_hashes_to_the_certified_digest(run, capsys):
    folder = Layout(run).adapter(456, "uniform_r24")
    (folder / "adapter_model.safetensors").write_bytes(b"other weights")
    code, line = run_verify(run, capsys)
    assert code == 1
    assert line.startswith(f"mismatch: {DETAILS}: variants.uniform_r24.seeds.456.adapter_sha256 is ")
    assert line.endswith(f"the files in data/variants/456/uniform_r24/adapter hash to {adapter_digest(folder)}")


def test_a_plan_edited_by_hand_or_replaced_whole_is_named(run, capsys):
    _edit_json(run / PLAN, ["share"], 0.6)
    code, line = run_verify(run, capsys)
    assert code == 1 and line.startswith(f"mismatch: {PLAN}: sha256 is ") and ", its terms hash to " in line
    from rankcert.certification import plan

    terms = json.loads((run / PLAN).read_text())
    del terms["sha256"]
    (run / PLAN).write_text(plan.plan_text(plan.Plan(**terms)))  # a consistent plan, but not the certificate's
    code, line = run_verify(run, capsys)
    assert code == 1 and line.startswith(f"mismatch: {DETAILS}: plan.sha256 is ")
    assert line.endswith(f"{PLAN}'s terms hash to {plan.Plan(**terms).sha256}")


def test_a_look_rewritten_in_the_looks_file_is_named(run, capsys):
    looks = json.loads((run / LOOKS).read_text())
    looks[0]["verdicts"]["uniform_r16"] = "SAFE"
    (run / LOOKS).write_text(json.dumps(looks))
    code, line = run_verify(run, capsys)
    assert code == 1 and line.startswith(f"mismatch: {DETAILS}: plan.looks.0.verdicts is ") and LOOKS in line


def test_an_exploratory_read_and_its_reason_are_verified_and_a_changed_reason_is_not(run, capsys, monkeypatch):
    """Four of the five declared seeds is no look of the plan: certify says exploratory, never certified."""
    _edit_yaml(run / "params.yaml", lambda p: p.update(seeds=SEEDS[:4]))
    assert run_certify(run, monkeypatch) == 1
    capsys.readouterr()
    code, line = run_verify(run, capsys)
    assert code == 0 and line.startswith("verified: 4 seeds, 4 variants, "), line
    reasons = json.loads((run / DETAILS).read_text())["reasons"]
    assert reasons[0]["kind"] == "exploratory"
    _edit_json(run / DETAILS, ["reasons", 0, "kind"], "level")
    code, line = run_verify(run, capsys)
    assert code == 1 and line.startswith(f"mismatch: {DETAILS}: reasons is [") and "the figures give [" in line


def test_predictions_the_certificate_relies_on_but_not_pulled_are_bad_input(run, capsys):
    (run / "data/eval/42/per_layer.csv").unlink()
    code, line = run_verify(run, capsys)
    assert code == 2
    assert "data/eval/42/per_layer.csv is not in the workspace but the certificate relies on it: `dvc pull`" in line


def test_a_folder_that_is_no_repository_is_bad_input(tmp_path, capsys):
    code, line = run_verify(tmp_path, capsys)
    assert code == 2 and "has no params.yaml: not a rankcert repository" in line
