"""The certificate's two files: what DVC shows of the metrics, and every reader's typed view of both."""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from rankcert.certification import certificate, plan
from rankcert.certification.certificate import Certificate, Metrics, SeedDetails, VariantDetails, VariantMetrics
from rankcert.certification.collapse import Collapse, CollapseRate
from rankcert.certification.words import CollapseKind, ReasonKind
from rankcert.config import codec
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.outputs import together

CANONICAL = ("per_layer", "uniform_r20", "uniform_r24", "uniform_r16")
LEVEL_REASON = certificate.Reason.about_run(ReasonKind.LEVEL, "validation level is screening+ (3 seed(s) < 5)")


def seed(delta: float | None, status: str = "PASS") -> SeedDetails:
    return SeedDetails(status=status, passed=status == "PASS", accuracy=None if delta is None else 0.8 + delta,
                       delta=delta, ci_low=None if delta is None else delta - 0.02,
                       ci_high=None if delta is None else delta + 0.02, mcnemar_p=0.5, se_delta=0.01,
                       adapter_sha256="ab" * 32, trainable_parameters=1000, reduction_vs_probe=0.5)


def sample(names=CANONICAL) -> Certificate:
    metrics = {n: VariantMetrics("SAFE", "UNSETTLED", -0.004, -0.01, 0.53) for n in names}
    details = {n: VariantDetails(pass_rate=1.0, stability=0.93, std_delta=0.005, non_inferior=True,
                                 evidence=certificate.EvidenceDetails(-0.012, 0.97, 6, "SAFE"),
                                 population=certificate.PopulationDetails(3, 1, 0.0002, 3, 4, 0),
                                 mean_reduction_vs_probe=0.5, mean_trainable_parameters=1000.0,
                                 seeds={42: seed(0.0), 123: seed(-0.01), 456: seed(None, "MISSING")})
               for n in names}
    probe = certificate.ProbeDetails(True, 0, {42: certificate.ProbeSeed(0.82, "cd" * 32),
                                               123: certificate.ProbeSeed(0.8, "ef" * 32)})
    return Certificate(Metrics(certified=False, level="screening+", variants=metrics),
                       certificate.Details(["3 seed(s) < 5"], [LEVEL_REASON], probe,
                                           certificate.PolicyDetails(True, True, 5, 0, 2, 0), details,
                                           certificate.FrontierSummary(20, 1000.0, "uniform_r20", 4, 1, None, None),
                                           reading(names), collapses(names)))


def collapses(names) -> certificate.Collapses:
    run = Collapse(456, names[0], 0.53, 0.53, 0.82, CollapseKind.AT_CHANCE)
    return certificate.Collapses([run], {n: CollapseRate(int(n == names[0]), 3, 0.0, 0.7) for n in ["probe", *names]})


def reading(names) -> plan.Reading:
    declared = plan.Plan(0.9, 0.025, 0.95, [3, 6], "calibrated", [42, 123, 456, 1000, 1001, 1002])
    look = plan.Look([42, 123, 456], {n: "UNSETTLED" for n in names}, {n: 0.0148 for n in names}, declared.sha256)
    return plan.Reading(declared, declared.sha256, None, [look])


def written(tmp_path, found: Certificate) -> tuple:
    paths = tmp_path / "certify.json", tmp_path / "certify_details.json"
    with together() as out:
        certificate.write(out, found, *paths)
    return paths


def test_a_certificate_reads_back_as_written_and_is_the_same_bytes_every_time(tmp_path):
    paths = written(tmp_path, sample())
    assert certificate.read(*paths) == sample()
    first = [p.read_bytes() for p in paths]
    written(tmp_path, certificate.read(*paths))
    assert [p.read_bytes() for p in paths] == first


def test_the_run_file_holds_a_few_keys_and_each_variant_file_the_same_five(tmp_path):
    """`dvc metrics show` puts every file in a row and every key in a column: a row per variant, few columns."""
    metrics, _ = written(tmp_path, sample())
    assert json.loads(metrics.read_text()) == {"certified": False, "level": "screening+", "safe": 4, "settled": 0}
    folder = tmp_path / "variants"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.json" for n in CANONICAL)
    assert json.loads((folder / "uniform_r20.json").read_text()) == {
        "spec": "SAFE", "population": "UNSETTLED", "mean_delta": -0.004, "worst_delta": -0.01, "share_lower": 0.53}
    for path in folder.iterdir():
        assert set(json.loads(path.read_text())) == {f.name for f in dataclasses.fields(VariantMetrics)}


def test_a_variant_no_longer_run_leaves_no_file(tmp_path):
    written(tmp_path, sample(CANONICAL + ("uniform_r4",)))
    metrics, details = written(tmp_path, sample())
    assert not (tmp_path / "variants" / "uniform_r4.json").exists()
    assert set(certificate.read(metrics, details).metrics.variants) == set(CANONICAL)


def test_a_hand_edited_file_is_one_line_naming_the_key(tmp_path):
    metrics, details = written(tmp_path, sample())
    variant = tmp_path / "variants" / "uniform_r20.json"
    data = json.loads(variant.read_text())
    data["spec"] = True
    variant.write_text(json.dumps(data))
    with pytest.raises(RankcertError, match=r"variants/uniform_r20.json is not the variant's metrics file this rankcert writes "
                                            r"\(spec must be SAFE, UNSAFE or UNSETTLED, not True: written by another "
                                            r"version, or edited\); run certify again \(`dvc repro certify`\)$"):
        certificate.read(metrics, details)
    written(tmp_path, sample())
    data = json.loads(metrics.read_text())
    data["safe"] = 3
    metrics.write_text(json.dumps(data))
    with pytest.raises(RankcertError, match=r"certify.json says safe 3, settled 0 but .*variants holds safe 4, settled 0: "
                                            r"run certify again"):
        certificate.read(metrics, details)
    written(tmp_path, sample())
    data = json.loads(details.read_text())
    del data["variants"]["per_layer"]["seeds"]["42"]["delta"]
    details.write_text(json.dumps(data))
    with pytest.raises(RankcertError, match=r"certify_details.json is not the certificate details this rankcert "
                                            r"writes \(missing key 'variants.per_layer.seeds.42.delta'"):
        certificate.read(metrics, details)


def test_a_verdict_word_the_vocabulary_lacks_is_refused(tmp_path):
    metrics, details = written(tmp_path, sample())
    variant = tmp_path / "variants" / "uniform_r20.json"
    data = json.loads(variant.read_text())
    data["population"] = "unsettled"
    variant.write_text(json.dumps(data))
    with pytest.raises(RankcertError, match=r"population must be SAFE, UNSAFE or UNSETTLED, not 'unsettled'"):
        certificate.read(metrics, details)


def test_the_details_carry_each_reason_with_its_kind_and_agree_with_the_flag(tmp_path):
    metrics, details = written(tmp_path, sample())
    assert json.loads(details.read_text())["reasons"] == [
        {"kind": "level", "text": "validation level is screening+ (3 seed(s) < 5)", "variant": None, "claim": None}]
    found = certificate.read(metrics, details).details.reasons
    assert found == [LEVEL_REASON] and found[0].kind is ReasonKind.LEVEL
    data = json.loads(details.read_text())
    data["reasons"] = []
    details.write_text(json.dumps(data))
    with pytest.raises(RankcertError, match="says certified False but .* lists 0 reason"):
        certificate.read(metrics, details)
    data["reasons"] = [{"kind": "claim contradicted", "text": "t", "variant": "uniform_r99", "claim": "c"}]
    details.write_text(json.dumps(data))
    with pytest.raises(RankcertError, match=r"reasons name variants \['uniform_r99'\] that .* lacks"):
        certificate.read(metrics, details)
    data["reasons"][0]["kind"] = "claim not measured"  # a claim about a variant the run did not measure
    details.write_text(json.dumps(data))
    assert certificate.read(metrics, details).details.reasons[0].variant == "uniform_r99"


def test_files_of_different_runs_are_refused_together(tmp_path):
    metrics, details = written(tmp_path, sample())
    (tmp_path / "variants" / "uniform_r20.json").unlink()
    metrics.write_text(codec.text(dataclasses.replace(sample(), metrics=Metrics(False, "screening+", {
        n: v for n, v in sample().metrics.variants.items() if n != "uniform_r20"})).metrics.run_record()))
    with pytest.raises(RankcertError, match="name other variants"):
        certificate.read(metrics, details)


def test_a_missing_file_says_what_makes_it(tmp_path):
    with pytest.raises(RankcertError, match=r"certify.json not found; run certify again \(`dvc repro certify`\)"):
        certificate.read_metrics(tmp_path / "certify.json")
    metrics, _ = written(tmp_path, sample())
    shutil.rmtree(tmp_path / "variants")
    with pytest.raises(RankcertError, match=r"variants not found; run certify again"):
        certificate.read_metrics(metrics)


def test_seeds_read_back_in_numeric_order(tmp_path):
    found = certificate.read(*written(tmp_path, sample())).details
    assert list(found.variants["per_layer"].seeds) == [42, 123, 456] and list(found.probe.seeds) == [42, 123]
    worst = found.variants["per_layer"].worst_seed()
    assert worst[0] == 123 and worst[1].delta == -0.01


def test_a_release_certified_in_an_earlier_layout_is_still_read():
    """A release tagged with certify.json holding every variant (before the metrics/details split, or before a
    file per variant): the gate compares its verdicts and figures."""
    before_split = {"certified": True, "level": "certifiable", "probe": {"gate_passed": True},
                    "variants": {"uniform_r20": {"status": "SAFE", "safe": True, "mean_delta": -0.004,
                                                 "worst_delta": -0.01, "stability": 0.93,
                                                 "population": {"verdict": "UNSETTLED", "seeds": 3},
                                                 "seeds": {"seed_42": {"delta": -0.01}}}},
                    "frontier": {"safe_variants": 1}}
    one_file = {"certified": True, "level": "certifiable", "population": {"uniform_r20": "UNSETTLED"},
                "spec": {"uniform_r20": "SAFE"},
                "variants": {"uniform_r20": {"mean_delta": -0.004, "stability": 0.93, "worst_delta": -0.01}}}
    for earlier in (before_split, one_file):
        found = certificate.parse_metrics(json.dumps(earlier), {}, Path("metrics/certify.json"), "v1")
        assert found == Metrics(True, "certifiable", {"uniform_r20": VariantMetrics("SAFE", "UNSETTLED", -0.004,
                                                                                    -0.01, None)})


def test_a_release_s_files_are_read_from_their_texts():
    files = sample().metrics
    texts = {n: codec.text(v) for n, v in files.variants.items()}
    assert certificate.parse_metrics(codec.text(files.run_record()), texts, Path("metrics/certify.json"), "v2") == files
    texts["uniform_r20"] = "{"
    with pytest.raises(RankcertError, match=r"metrics/variants/uniform_r20.json at v2 is not JSON"):
        certificate.parse_metrics(codec.text(files.run_record()), texts, Path("metrics/certify.json"), "v2")


def test_no_measured_seed_is_not_observed():
    v = VariantMetrics("UNSAFE", "UNSETTLED", None, None, 0.0)
    assert v.observed is None and dataclasses.replace(v, worst_delta=-0.1).observed == "UNSAFE"
