"""What compress makes of a variant: its job (plan and alphas) and its plan.json record."""
from __future__ import annotations

import json

from rankcert.compression.jobs import job_of, plan_record
from rankcert.config import records
from rankcert.config.ranks import energy_rank
from rankcert.config.variants import read_variant

MODULES = ["layer.0.query", "layer.0.value"]
SPECTRA = {"layer.0.query": [10.0, 1.0, 0.5, 0.1], "layer.0.value": [1.0, 1.0, 1.0, 1.0]}


def test_a_uniform_variant_has_its_rank_everywhere_alpha_equal_to_it_and_no_energy(demo_params_obj):
    variant = read_variant("uniform_r2")
    job = job_of(variant, demo_params_obj, MODULES, None)
    assert (job.name, job.plan, job.alphas) == ("uniform_r2", dict.fromkeys(MODULES, 2), dict.fromkeys(MODULES, 2.0))
    assert json.loads(records.text(plan_record(variant, job.plan, demo_params_obj, None))) == {  # plan.json, as before
        "variant": "uniform_r2", "kind": "uniform", "ranks": job.plan, "energy_ranks": None, "energy_threshold": None}


def test_a_spectrum_read_plan_records_each_modules_energy_rank_at_its_threshold(demo_params_obj):
    for name, kind in (("per_layer_e95", "per_layer"), ("truncated_per_layer_e95", "truncated")):
        variant = read_variant(name)
        job = job_of(variant, demo_params_obj, MODULES, SPECTRA)
        record = plan_record(variant, job.plan, demo_params_obj, SPECTRA)
        energy = {m: energy_rank(s, 0.95) for m, s in SPECTRA.items()}
        assert json.loads(records.text(record)) == {"variant": name, "kind": kind, "ranks": job.plan, "energy_ranks": energy,
                          "energy_threshold": 0.95}
        assert all(job.plan[m] >= energy[m] for m in MODULES) and job.alphas == {m: float(r) for m, r in job.plan.items()}


def test_per_layer_reads_compress_energy_threshold(demo_params_obj):
    variant = read_variant("per_layer")
    record = plan_record(variant, job_of(variant, demo_params_obj, MODULES, SPECTRA).plan, demo_params_obj, SPECTRA)
    assert record.energy_threshold == demo_params_obj.compress.energy_threshold
