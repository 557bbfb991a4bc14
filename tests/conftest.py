"""Shared test configuration: hypothesis profiles and the optional torch oracle."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# "default" keeps every module fast; "thorough" (HYPOTHESIS_PROFILE=thorough)
# multiplies the examples of every property for a long local run.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the oracle; tests that take this fixture skip when it is missing."""
    return pytest.importorskip("torch")


def pytest_collection_modifyitems(config, items):
    """Long sweeps marked ``slow`` run only when asked for: ``pytest -m slow``."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long sweep; select it with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
