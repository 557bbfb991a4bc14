"""Shared test configuration: hypothesis profiles and the optional torch oracle."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# "default" keeps every module fast and draws the same examples on every run
# (derandomize), so CI's verdict on a commit is the commit's, not the seed's;
# "explore" (HYPOTHESIS_PROFILE=explore) draws fresh random examples each run,
# to hunt for new counterexamples locally; "thorough" (HYPOTHESIS_PROFILE=thorough)
# multiplies the examples of every property for a long local run.
settings.register_profile(
    "default", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow]
)
# "sweep" (--hypothesis-profile=sweep): at least 10 000 examples per property
# that does not pin max_examples itself, for release checks of the operators.
settings.register_profile(
    "sweep", deadline=None, max_examples=10_000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Test helpers (the naive references in reference_conv.py) are imported by
# name; --import-mode=importlib does not put this directory on sys.path.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the oracle (pinned in the test extra; a missing one fails, see below)."""
    return pytest.importorskip("torch")


def _missing_tool(report) -> bool:
    return report.skipped and "could not import" in str(report.longrepr)


# Every oracle and tool the tests use is installed by scripts/test (the test
# extra, iverilog, chromium). A test whose tool is missing must fail, never
# pass as skipped: the importorskip calls in the test modules become failures.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if _missing_tool(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = (yield).get_result()
    if _missing_tool(report):
        report.outcome = "failed"


def pytest_collection_modifyitems(config, items):
    """Long sweeps marked ``slow`` run only when asked for: ``pytest -m slow``."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long sweep; select it with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
