"""The benchmarks that rebuild the project's pipeline in scratch form still read it as it is declared (the root
dvc.yaml and seeds/<kind>/dvc.yaml): a moved stage fails here, not on a device call."""
from __future__ import annotations

import yaml

from benchmarks import dvc_overhead_bench, lockfile_bench
from rankcert.runtime.layout import SEED_STAGES


def test_the_lock_file_bench_builds_each_shapes_lock_from_the_declared_stages():
    for shape in lockfile_bench.SHAPES:
        stages = lockfile_bench.lock_file(2, shape)["stages"]
        expected = ["seed@42", "seed@123"] if shape == "one_stage_per_seed" else [
            f"{kind}@{seed}" for seed in (42, 123) for kind in SEED_STAGES]
        assert list(stages) == expected, shape
        assert all(entry["deps"] and entry["outs"] for entry in stages.values()), shape


def test_the_dvc_overhead_bench_writes_each_shape_with_the_declared_deps_and_outs(tmp_path):
    declared = lockfile_bench.project_stages()
    for shape in dvc_overhead_bench.SHAPES:
        root = tmp_path / shape
        root.mkdir()
        dvc_overhead_bench.write_pipeline(root, shape)
        written = {name: stage for path in sorted(root.rglob("dvc.yaml"))
                   for name, stage in yaml.safe_load(path.read_text())["stages"].items()}
        if shape == "one_stage":
            assert list(written) == ["seed"] and set(written["seed"]["do"]["outs"]) == {
                out for kind in SEED_STAGES for out in declared[kind]["do"]["outs"]}
            continue
        assert sorted(written) == sorted(SEED_STAGES), shape
        for kind in SEED_STAGES:
            assert written[kind]["do"]["deps"] == declared[kind]["do"]["deps"], (shape, kind)
            assert written[kind]["do"]["outs"] == declared[kind]["do"]["outs"], (shape, kind)
        targets = dvc_overhead_bench.seed_stages(shape, 42)
        assert len(targets) == len(SEED_STAGES) and all(t.endswith(f"@{42}") for t in targets), shape
