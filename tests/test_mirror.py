"""The tests mirror the package: rankcert/<package>/<module>.py is tested in tests/<package>/test_<module>.py, or
TESTED_ELSEWHERE says which test file covers it (a file that names the module), so nothing is untested by omission."""
from __future__ import annotations

from tests.helpers import PROJECT

# module -> the test file that covers it, for modules whose behaviour is tested through another's tests
TESTED_ELSEWHERE = {
    "rankcert/assembly.py": "tests/stages/test_certify.py",  # certify's stage runs assemble() on every case
    "rankcert/validation.py": "tests/stages/test_stage_errors.py",  # validate's refusals, one line each
    "rankcert/certification/run_results.py": "tests/stages/test_certify.py",  # tampered outputs stop certify
    "rankcert/certification/truths.py": "tests/certification/test_population.py",  # the simulation's named truths
    "rankcert/certification/verdict.py": "tests/stages/test_certify.py",
    "rankcert/certification/words.py": "tests/certification/test_policy.py",
    "rankcert/evaluation/adapters.py": "tests/training/test_cotrain.py",  # one base predicts as each adapter alone
    "rankcert/evaluation/prediction.py": "tests/training/test_cotrain.py",
    "rankcert/inputs/sources.py": "tests/training/test_imported.py",
    "rankcert/reporting/figures.py": "tests/stages/test_certify.py",
    "rankcert/reporting/plotdata.py": "tests/e2e/test_pipeline.py",  # dvc plots show over the written plot data
    "rankcert/runtime/channel.py": "tests/worker/test_worker.py",
    "rankcert/runtime/deps.py": "tests/stages/test_dvc_yaml.py",
    "rankcert/runtime/errors.py": "tests/config/test_entrypoint.py",
    "rankcert/runtime/faults.py": "tests/e2e/test_reliability.py",  # a stage killed mid-write keeps its outputs
    "rankcert/runtime/layout.py": "tests/stages/test_dvc_yaml.py",
    "rankcert/runtime/runfacts.py": "tests/training/test_identity.py",  # run.json's environment facts
    "rankcert/runtime/services.py": "tests/worker/test_worker.py",
    "rankcert/runtime/text.py": "tests/reporting/test_report.py",
    "rankcert/runtime/yamlfile.py": "tests/config/test_params.py",
    "rankcert/tools/demo.py": "tests/e2e/test_pipeline.py",
    "rankcert/tools/verify.py": "tests/verification/test_verify.py",
    "rankcert/training/base.py": "tests/training/test_cotrain.py",
    "rankcert/training/checkpoint.py": "tests/training/test_loop.py",
    "rankcert/training/probing.py": "tests/training/test_imported.py",  # an imported adapter in the probe's place
    "rankcert/training/runs.py": "tests/training/test_identity.py",
    "rankcert/training/trainer_client.py": "tests/training/test_trainer_service.py",
    "rankcert/verification/checks.py": "tests/verification/test_verify.py",
    "rankcert/verification/derive.py": "tests/verification/test_verify.py",
    "rankcert/verification/workspace.py": "tests/verification/test_verify.py",
    "rankcert/worker/__main__.py": "tests/worker/test_worker.py",
    "rankcert/worker/child.py": "tests/worker/test_worker.py",
    "rankcert/worker/client.py": "tests/worker/test_worker.py",
    "rankcert/worker/server.py": "tests/worker/test_worker.py",
}


# what a test names instead of the module, where the module acts through a setting
REACHED_BY = {"rankcert/runtime/faults.py": ("RANKCERT_KILL_BEFORE_RENAME",)}


def own_test_file(module: str) -> str:
    parts = module.split("/")[1:]  # without rankcert/
    return "/".join(["tests", *parts[:-1], f"test_{parts[-1]}"])


def modules() -> list[str]:
    return sorted(str(p.relative_to(PROJECT)) for p in (PROJECT / "rankcert").rglob("*.py") if p.name != "__init__.py")


def test_every_module_has_its_test_file_or_says_where_it_is_tested():
    untested = [m for m in modules() if not (PROJECT / own_test_file(m)).is_file() and m not in TESTED_ELSEWHERE]
    assert untested == [], f"add {[own_test_file(m) for m in untested]} or a TESTED_ELSEWHERE line"


def test_the_files_named_elsewhere_exist_and_reach_the_module():
    """Each named test file exists, and it or what it runs names the module (its dotted path, or its stem for a
    module a stage or a subprocess runs)."""
    for module, test_file in TESTED_ELSEWHERE.items():
        assert not (PROJECT / own_test_file(module)).is_file(), f"{module} has its own test file now: drop its line"
        text = (PROJECT / test_file).read_text()
        dotted, stem = module[:-3].replace("/", "."), module.split("/")[-1][:-3]
        package = module.split("/")[-2]
        names = {dotted, stem, package, *REACHED_BY.get(module, ())}
        assert any(name in text for name in names), f"{test_file} never names {module}"


def test_test_folders_mirror_packages():
    packages = {p.name for p in (PROJECT / "rankcert").iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in (PROJECT / "tests").iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders - {"e2e", "stages"} <= packages, "a tests/ folder that is no package of rankcert"
