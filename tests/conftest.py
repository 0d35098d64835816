"""Shared fixtures: tests never touch the network, and build their models and data themselves."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")  # DVC would start a daemon per command to send usage reports

import copy  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from rankcert.config.params import params_from_dict  # noqa: E402
from rankcert.tools import demo  # noqa: E402

# No timed checks: under `make test` two processes share two cores, so a slow draw or example is the machine,
# not the property under test.
settings.register_profile("rankcert", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rankcert")


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory):
    """The demo profile's generated model and data, made once per test session."""
    root = tmp_path_factory.mktemp("assets")
    demo.write_demo_model(root / "model")
    demo.write_demo_data(root / "sst2")
    return root


@pytest.fixture(scope="session")
def decoder_assets(tmp_path_factory):
    """Per decoder profile (llama, gpt2): a folder with its generated model (a tokenizer without a pad token)
    and the demo data, made once per test session."""
    root = tmp_path_factory.mktemp("decoders")
    for family in demo.DECODERS:
        demo.write_decoder_model(root / family / "model", family)
        demo.write_demo_data(root / family / "sst2")
    return root


@pytest.fixture
def raw_params(demo_assets):
    """A fresh, mutable copy of the demo params dict, pointing at the generated assets."""
    return copy.deepcopy(demo.demo_params(str(demo_assets)))


@pytest.fixture
def demo_params_obj(raw_params):
    return params_from_dict(raw_params)



def pytest_collection_modifyitems(items):
    """tests/e2e/ first (stable otherwise): `make test` hands files out whole in this order, so the long runs start
    at once on both processes."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/e2e/"))
