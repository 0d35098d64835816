"""dvc.yaml against the code: each stage depends on its entry point's code fingerprint, which covers exactly its
import closure; a per-seed stage depends on its params file (only the params it reads: none of the training recipe for
evaluate, no `seeds` per seed) and lists none in its lock entry."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from rankcert.config.stage_params import SEED_STAGE_PARAMS
from rankcert.runtime.deps import closure
from rankcert.runtime.layout import LAYOUT, SEED_STAGES
from stages import code
from tests.helpers import PROJECT, pipeline_stages

DVC = pipeline_stages()
ENTRY = re.compile(r"rankcert\.worker run stages\.(\w+)")


def stage_body(name: str) -> dict:
    stage = DVC[name]
    return stage.get("do", stage)


def test_each_per_seed_stage_depends_on_its_params_file_from_validate_and_lists_no_params():
    """DVC copies a `params:` list's values into every seed's lock entry; the params file is one hash."""
    assert f"{LAYOUT.stage_params.as_posix()}" in DVC["validate"]["outs"]
    assert "--params-out data/params" in DVC["validate"]["cmd"]
    for name in SEED_STAGE_PARAMS:
        body = stage_body(name)
        assert "params" not in body, name
        assert (LAYOUT.stage_params / f"{name}.json").as_posix() in body["deps"], name


@pytest.mark.parametrize("name", sorted(set(DVC) - {"code"}))
def test_each_stage_depends_on_its_own_code_fingerprint_and_no_source_file(name):
    stage = stage_body(name)
    entry = ENTRY.search(stage["cmd"]).group(1)
    assert f"data/code/{entry}.json" in stage["deps"]
    assert [d for d in stage["deps"] if d.startswith("data/code/") or d.endswith(".py")] == [f"data/code/{entry}.json"]


def test_the_code_stage_reads_the_source_folders_and_covers_every_entry_point():
    stage = DVC["code"]
    assert stage["deps"] == ["rankcert", "stages"] and stage["outs"] == ["data/code"]
    used = {ENTRY.search(stage_body(n)["cmd"]).group(1) for n in DVC if n != "code"}
    assert used == {p.stem for p in code.entry_points(PROJECT)}


def test_a_fingerprint_lists_exactly_the_import_closure_and_changes_only_with_it(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT)
    code.main(["--out", str(tmp_path / "code")])
    for entry in code.entry_points(PROJECT):
        written = json.loads((tmp_path / "code" / f"{entry.stem}.json").read_text())
        assert sorted(written["files"]) == closure(PROJECT, entry) and written["entry"] == entry.as_posix()
    certify, probe = (json.loads((tmp_path / "code" / f"{n}.json").read_text())["files"] for n in ("certify", "probe"))
    report = "rankcert/reporting/report.py"
    assert report in certify and report not in probe  # a report edit retrains nothing


def test_the_closure_follows_lazy_imports_and_package_inits(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "rankcert").mkdir()
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "rankcert" / "__init__.py").write_text("")
    (tmp_path / "stages" / "s.py").write_text("def main():\n    from rankcert import lazy\n")
    (tmp_path / "rankcert" / "lazy.py").write_text("import torch\nfrom rankcert.deep import x\n")
    (tmp_path / "rankcert" / "deep.py").write_text("x = 1\n")
    assert closure(tmp_path, "stages/s.py") == ["rankcert/__init__.py", "rankcert/deep.py", "rankcert/lazy.py",
                                                 "stages/__init__.py", "stages/s.py"]


def test_per_seed_stages_do_not_depend_on_the_seed_list_and_only_compress_and_evaluate_on_the_variants():
    for name in ("prepare", "probe", "compress", "evaluate"):
        params = SEED_STAGE_PARAMS[name]
        assert "seeds" not in params, name
        assert ("variants" in params) == (name in ("compress", "evaluate")), name


def test_one_stage_per_seed_and_step_each_kind_in_a_dvc_yaml_of_its_own_with_the_roots_paths_and_seeds():
    """A stage's dvc.lock is rewritten whole after it runs: one lock file per kind keeps that cheap."""
    root = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    assert not set(SEED_STAGES) & set(root) and tuple(SEED_STAGE_PARAMS) == SEED_STAGES
    for kind in SEED_STAGES:
        pipeline = yaml.safe_load((PROJECT / LAYOUT.seed_pipeline(kind)).read_text())
        assert list(pipeline["stages"]) == [kind] and pipeline["vars"] == ["../../params.yaml"], kind
        assert pipeline["stages"][kind]["foreach"] == "${seeds}" and DVC[kind]["do"]["wdir"] == "../..", kind
        assert "--seed ${item}" in DVC[kind]["do"]["cmd"] and f"stages.{kind} " in DVC[kind]["do"]["cmd"], kind
    assert LAYOUT.seed_stage("probe", 42) == "seeds/probe/dvc.yaml:probe@42"
    assert [p.as_posix() for p in LAYOUT.lock_files] == ["dvc.lock", *(f"seeds/{k}/dvc.lock" for k in SEED_STAGES)]
    assert "matrix" not in yaml.safe_dump(DVC) and "evaluate_probe" not in DVC


def test_the_per_seed_outputs_are_the_layouts():
    seed = 7
    outs = {name: [o.replace("${item}", str(seed)) for o in stage_body(name)["outs"]]
            for name in ("prepare", "probe", "compress", "evaluate")}
    assert outs == {"prepare": [LAYOUT.prepared(seed).as_posix()], "probe": [LAYOUT.probe(seed).as_posix()],
                    "compress": [LAYOUT.variants(seed).as_posix()],
                    "evaluate": [LAYOUT.predictions_folder(seed).as_posix(), LAYOUT.eval_metrics_folder(seed).as_posix()]}
    certify = DVC["certify"]
    declared = {next(iter(o)) if isinstance(o, dict) else o for o in certify["outs"] + certify["metrics"]}
    assert declared == {p.as_posix() for p in (LAYOUT.certificate, LAYOUT.variant_metrics, LAYOUT.certificate_details,
                                               LAYOUT.report,
                                               LAYOUT.figures, LAYOUT.plot_data, LAYOUT.certify_plan,
                                               LAYOUT.certify_looks)}


def test_evaluation_does_not_depend_on_the_training_recipe():
    params = SEED_STAGE_PARAMS["evaluate"]
    assert not [p for p in params if p == "train" or p.startswith("train.")]
    assert "probe" not in params and "runtime.cuda_graphs" not in params and "runtime" not in params


def test_eval_batch_size_retrains_nothing():
    for name in ("prepare", "probe", "compress"):
        params = SEED_STAGE_PARAMS[name]
        assert not [p for p in params if p == "evaluate" or p.startswith("evaluate.")], name


def test_the_run_and_its_variants_are_the_only_metrics_files():
    """dvc metrics show, diff and exp show read the run's file and a file per variant: per-adapter figures are
    cached outs, certify's details an output beside the metrics, kept (persist) like them."""
    metrics = [m for name in DVC for m in stage_body(name).get("metrics", [])]
    assert metrics == [{path.as_posix(): {"cache": False, "persist": True}}
                       for path in (LAYOUT.certificate, LAYOUT.variant_metrics)]
    assert {LAYOUT.certificate_details.as_posix(): {"cache": False, "persist": True}} in DVC["certify"]["outs"]


def test_the_sharded_workflow_example_is_valid_and_gathers_with_the_run_cache():
    workflow = yaml.safe_load((PROJECT / ".github" / "workflows" / "sharded-certify.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["certify"]["needs"] == "seed" and jobs["seed"]["strategy"]["matrix"]["seed"]
    seed_steps = " ".join(step.get("run", "") for step in jobs["seed"]["steps"])
    assert "dvc push --run-cache" in seed_steps and "seeds/evaluate/dvc.yaml:evaluate@" in seed_steps
    assert any("dvc repro --pull" in step.get("run", "") for step in jobs["certify"]["steps"])
