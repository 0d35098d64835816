# The two commands first: `make demo` runs the offline demo pipeline end to end, `make test` runs the tests.
# Both create and fill .venv/ on first use; later calls reinstall only when pyproject.toml or constraints.txt change.
#
# TORCH_INSTALL picks the torch build (the CPU pin by default), e.g. for CUDA 12.8 wheels:
#   make test TORCH_INSTALL="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_INSTALL ?= torch==2.13.0
VENV ?= .venv
DEMO_DIR ?= demo-run
PYTHON := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.rankcert-installed
# Stage commands in dvc.yaml call `python` and the demo calls `dvc`: both must be the venv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 DVC_NO_ANALYTICS=1

.PHONY: demo test test-fast lint pre-release verify policy settle repro-parallel worker-status worker-stop clean-scratch clean-venv

# PROFILE=llama or PROFILE=gpt2: a tiny decoder (its tokenizer has no pad token) instead of the tiny DistilBERT;
# PROFILE=adapter: a LoRA adapter trained first on the tiny DistilBERT, then cuts of it certified (probe.adapter).
demo: $(STAMP)
	rm -rf $(DEMO_DIR) && $(OFFLINE) $(PYTHON) -m rankcert.tools.demo $(DEMO_DIR) $(if $(PROFILE),--profile $(PROFILE))

# Tests run in TEST_JOBS processes (pytest-xdist), each torch at one thread: two processes of two threads each on two
# cores run several times slower, not faster. Each test file stays whole in one process (its module fixtures are
# made once), files handed out in the order pytest collects them: tests/e2e/ (the long runs) first, so the processes
# finish together. The e2e tests' shared demo workspace is reproduced once and copied (tests/e2e/conftest.py).
TEST_JOBS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test: $(STAMP)
	$(OFFLINE) $(PYTEST)

test-fast: $(STAMP)
	$(OFFLINE) $(PYTEST) -m "not e2e"

# ruff, then the import contracts in pyproject.toml (each pipeline step imports only earlier ones; the gate stays light).
lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(CURDIR)/$(VENV)/bin/lint-imports

pre-release: $(STAMP)
	$(PYTHON) -m rankcert.tools.pre_release $(PRE_RELEASE_ARGS)

# Every figure of the certificate re-derived from the predictions and run records, no GPU (docs/verify.md):
# VERIFY_ARGS="--pull" fetches them from the DVC remote first, "--root DIR" checks another checkout.
verify: $(STAMP)
	$(PYTHON) -m rankcert.tools.verify $(VERIFY_ARGS)

# The policy the last certifiable run supports: shows the diff; POLICY_ARGS="--write" (or --out, --name) to write it.
policy: $(STAMP)
	$(PYTHON) -m rankcert.tools.policy_export $(POLICY_ARGS)

# Seeds added look by look (certify.population.looks) until every population verdict settles; a commit per look.
# SETTLE_ARGS="--per-gpu 4" (or --jobs N) runs each look's new seeds at once through rankcert.tools.parallel.
settle: $(STAMP)
	$(PYTHON) -m rankcert.tools.settle $(SETTLE_ARGS)

# The canonical run with one `dvc repro` per seed at once (JOBS defaults to the number of GPUs times PER_GPU,
# the seeds that may share one GPU, default 1), then certify.
repro-parallel: $(STAMP)
	$(PYTHON) -m rankcert.tools.parallel $(if $(JOBS),--jobs $(JOBS)) $(if $(PER_GPU),--per-gpu $(PER_GPU))

worker-status: $(STAMP)
	$(PYTHON) -m rankcert.worker status

worker-stop: $(STAMP)
	$(PYTHON) -m rankcert.worker stop

$(STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	# The torch build first: an unpinned torch pulls several GB of CUDA packages.
	$(PYTHON) -m pip install -q $(TORCH_INSTALL)
	$(PYTHON) -m pip install -q -c constraints.txt -e ".[test,gguf]"
	touch $(STAMP)

# What killed runs left in .rankcert-tmp/ (stages clear it themselves when they next write); a running stage's
# scratch stays. CLEAN_ARGS=--checkpoints also drops resumable training state.
clean-scratch: $(STAMP)
	$(PYTHON) -m rankcert.tools.clean_scratch $(CLEAN_ARGS)

clean-venv:
	rm -rf $(VENV)
