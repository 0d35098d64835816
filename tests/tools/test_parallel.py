"""The parallel tool's advice when seeds would share the CPU (its runs are in tests/e2e/test_scaleout.py)."""
import pytest

from rankcert.config.params import RuntimeParams
from rankcert.tools.parallel import cpu_advice

AUTO = RuntimeParams("auto", True)


def test_seeds_at_once_on_the_cpu_are_told_their_share_of_the_cores():
    advice = cpu_advice(jobs=2, gpu_count=0, cores=8, runtime=AUTO)
    assert "each use all 8 cores" in advice and "set runtime.cpu_threads: 4 in params.yaml" in advice
    assert "set runtime.cpu_threads: 1 " in cpu_advice(jobs=3, gpu_count=0, cores=2, runtime=AUTO)
    assert "cores" in cpu_advice(jobs=2, gpu_count=4, cores=8, runtime=RuntimeParams("cpu", True))


@pytest.mark.parametrize("jobs, gpu_count, runtime", [
    (1, 0, AUTO),                             # one seed at a time has the cores to itself
    (2, 0, RuntimeParams("auto", True, 1)),   # pinned: the user chose
    (2, 2, AUTO),                             # the seeds train on GPUs
])
def test_no_advice_when_nothing_competes_for_the_cores(jobs, gpu_count, runtime):
    assert cpu_advice(jobs, gpu_count, 8, runtime) is None
