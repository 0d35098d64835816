# The two commands first: `make demo` runs the offline demo pipeline end to end, `make test` runs the tests.
PYTHON ?= python
DEMO_DIR ?= demo-run

.PHONY: demo test test-fast pre-release bench

demo:
	rm -rf $(DEMO_DIR) && $(PYTHON) -m stages.demo $(DEMO_DIR)

test:
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m pytest -q

test-fast:
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PYTHON) -m pytest -q -m "not e2e"

pre-release:
	$(PYTHON) -m stages.pre_release $(PRE_RELEASE_ARGS)

bench:
	$(PYTHON) benchmarks/bench.py
