"""End to end on the adapter profile (`make demo PROFILE=adapter`): a LoRA adapter trained first, the way a user
would, then cuts of it certified with the pipeline; a changed adapter file is refused."""
import json

import pytest

from rankcert.inputs.sources import adapter_digest
from rankcert.tools import demo
from tests.e2e.conftest import E2E_OVERRIDES, read_certificate
from tests.helpers import ran_stages, sh

pytestmark = pytest.mark.e2e


def test_the_adapter_profile_certifies_cuts_of_the_adapter_it_trains_first(tmp_path):
    params = demo.deep_merge(demo.demo_params(profile="adapter"), E2E_OVERRIDES)
    ws = demo.create_workspace(tmp_path / "ws", params, profile="adapter")
    mine = ws / "assets" / "adapter"
    output = sh(ws, "dvc", "repro")
    stages = ran_stages(output.stdout + output.stderr)
    assert {"track@adapter", "probe@42", "compress@42", "evaluate@42", "certify"} <= set(stages)
    assert not [s for s in stages if s.endswith(("@123", "@456"))]  # one adapter, one seed

    run = json.loads((ws / "data/probe/42/run.json").read_text())
    assert run["training"] == {"source": "imported"} and run["ranks"] == {m: 32 for m in ("k_lin", "out_lin", "q_lin", "v_lin")}
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (ws / "data/probe/42/adapter" / name).read_bytes() == (mine / name).read_bytes()
    evaluated = json.loads((ws / "metrics/eval/42/probe.json").read_text())
    assert evaluated["adapter_sha256"] == adapter_digest(mine)  # the certificate judged the user's very files
    assert evaluated["accuracy"] >= params["certify"]["probe_min_accuracy"]  # the demo's adapter learned the task
    for variant in ("truncated_per_layer", "truncated_uniform_r16", "truncated_uniform_r8"):
        plan = json.loads((ws / f"data/variants/42/{variant}/plan.json").read_text())
        assert plan["kind"] == "truncated" and len(plan["ranks"]) == 8
    result = read_certificate(ws).metrics
    assert result.level == "imported" and result.certified is False
    report = (ws / "metrics/report.md").read_text()
    assert "imported, not trained here" in report and "**imported**: one imported adapter" in report

    # one bit of the adapter changed after DVC tracked it: DVC sees it, and the probe stage run alone refuses it
    weights = mine / "adapter_model.safetensors"
    content = bytearray(weights.read_bytes())
    content[-3] ^= 0x01
    weights.write_bytes(bytes(content))
    assert "track@adapter" in sh(ws, "dvc", "status").stdout
    before = (ws / "data/probe/42/run.json").read_bytes()
    refused = sh(ws, "python", "-m", "rankcert.worker", "run", "stages.probe", "--seed", "42", check=False)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("rankcert: error:")]
    assert refused.returncode == 2 and len(errors) == 1
    assert "assets/adapter/adapter_model.safetensors is not the file track@adapter recorded" in errors[0]
    assert (ws / "data/probe/42/run.json").read_bytes() == before
