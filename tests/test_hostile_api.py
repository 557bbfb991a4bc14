"""A fuzz over every public function of the library API: only results, ConvlabError or TypeError.

hostile_api_cases.py draws the arguments (one hostile parameter per call, the
others plausible) and runs each call under a 64 MiB memory limit and a 10 s
alarm, so each call also finishes in bounded time. The default suite draws a
few examples per function; the ``slow`` test makes more than 10,000 calls and
reports its counts.
"""

from __future__ import annotations

import collections
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_api_cases import TARGETS, Hang, bounded, call, run

QUICK = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _call_once(name: str, data) -> None:
    target = TARGETS[name]
    args, kwargs = data.draw(call(target))
    try:
        with bounded():
            run(target, args, kwargs)
    except Hang:
        pytest.fail(f"{name}(*{args!r}, **{kwargs!r}) did not finish within the bound")


@pytest.mark.parametrize("name", list(TARGETS))
@QUICK
@given(data=st.data())
def test_fuzz_allows_only_results_convlab_errors_and_type_errors(name, data):
    _call_once(name, data)


def test_the_fuzz_covers_every_public_function():
    import convlab
    from convlab import functional, init, lowering, shapes, transforms

    for module in (functional, lowering, shapes, init, transforms):
        for public in module.__all__:
            obj = getattr(module, public)
            if callable(obj) and not isinstance(obj, type):
                assert f"{module.__name__.split('.')[-1]}.{public}" in TARGETS, public
    layers = [n for n in convlab.nn.__all__ if any(word in n for word in ("Pool", "Conv", "Norm"))]
    assert all(f"nn.{n}" in TARGETS for n in layers)


def _probe(name: str, target: object, calls: collections.Counter, outside: dict) -> None:
    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def probe(data):
        args, kwargs = data.draw(call(target))
        calls[name] += 1
        try:
            with bounded():
                run(target, args, kwargs)
        except Exception as err:  # recorded, not raised: the count is the result
            where = traceback.extract_tb(err.__traceback__)[-1]
            outside[name].append(f"{type(err).__name__} at {where.filename}:{where.lineno}: {err}"[:300])

    probe()


@pytest.mark.slow
def test_fuzz_ten_thousand_calls_report_no_hangs_and_no_foreign_exceptions():
    calls, outside = collections.Counter(), collections.defaultdict(list)
    for name, target in TARGETS.items():
        _probe(name, target, calls, outside)
    hangs = sum("Hang" in x for v in outside.values() for x in v)
    total = sum(map(len, outside.values()))
    print(
        f"\nfuzz: {sum(calls.values())} calls over {len(calls)} functions; "
        f"outside the contract: {total}; hangs: {hangs}"
    )
    assert sum(calls.values()) >= 10_000
    assert not outside, {k: v[:2] for k, v in outside.items()}
