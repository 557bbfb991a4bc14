"""Hostile arguments for every public function of the library API, for tests/test_hostile_api*.py.

Per call one parameter (drawn) gets a hostile value and the others a
plausible one (the default, or a small valid array or int chosen by the
parameter's name; hostile too one time in eight). Hostile values: huge,
negative or zero ints, floats, bools, strings, None, nested tuples, empty /
NaN / inf / wrong-rank / object / complex arrays.
Calls run under a small memory limit and a per-call alarm: the contract
allows only results, ``ConvlabError`` and ``TypeError``, each in bounded time.
"""

from __future__ import annotations

import contextvars
import inspect
import signal
from contextlib import contextmanager

import numpy as np
from hypothesis import strategies as st

import convlab
from convlab import functional, init, lowering, nn, shapes, transforms
from convlab._args import ConvlabError

# Small enough that the fuzz can never swap the machine, large enough for real work.
MEMORY = 64 << 20
SECONDS = 10

HUGE_INTS = [2**31, 2**40, 2**62, 2**63, 2**64, 10**30, -(2**63), -(2**40)]
ODD_SCALARS = [
    0,
    -1,
    1,
    2,
    3,
    True,
    False,
    0.5,
    2.0,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e308,
    2j,
    "",
    "same",
    "valid",
    "x",
    None,
    np.int64(2),
    np.float32(1.5),
    b"3",
    object(),
    {"a": 1},
    [],
    (),
]
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, bool, np.complex128, object, "U3"]

ints = st.one_of(st.integers(-3, 8), st.sampled_from(HUGE_INTS))
scalars = st.one_of(ints, st.sampled_from(ODD_SCALARS), st.floats(allow_nan=True, allow_infinity=True))
nested = st.recursive(
    scalars, lambda inner: st.one_of(st.tuples(inner), st.lists(inner, max_size=4).map(tuple)), max_leaves=8
)


@st.composite
def arrays(draw, max_rank: int = 6):
    """Arrays of hostile shapes, dtypes and values (always at most a few hundred elements)."""
    rank = draw(st.integers(0, max_rank))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 1, 2, 3, 4, 5]), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(DTYPES))
    values = draw(st.sampled_from(["ones", "random", "nan", "inf", "huge", "tiny"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    base = {
        "ones": np.ones(shape),
        "random": rng.standard_normal(shape),
        "nan": np.full(shape, np.nan),
        "inf": np.where(rng.random(shape) < 0.5, np.inf, -np.inf),
        "huge": np.full(shape, 1.5e300),
        "tiny": np.full(shape, 5e-324),
    }[values]
    with np.errstate(all="ignore"):
        if dtype in ("U3",):
            return np.full(shape, "ab")
        if dtype is object:
            return base.astype(object)
        return base.astype(dtype)


def plausible_array(draw, name: str, ndim: int | None):
    """A small real array whose rank suits the operator (``ndim`` spatial dimensions, when known)."""
    if name in ("bias", "running_mean", "running_var"):
        return np.ones(draw(st.sampled_from([1, 1, 2, 3])))
    if ndim is None:
        rank = draw(st.integers(2, 5))
    else:
        rank = ndim + 2 - (name != "weight" and draw(st.integers(0, 4)) == 0)
    shape = tuple(draw(st.lists(st.sampled_from([1, 1, 2, 4, 5]), min_size=rank, max_size=rank)))
    if ndim is not None and name != "weight":
        shape = shape[:-ndim] + (5,) * ndim
    return np.random.default_rng(0).standard_normal(shape)


ARRAY_NAMES = {"input", "weight", "bias", "running_mean", "running_var", "img", "x", "data"}
SIZE_NAMES = {
    "kernel_size",
    "size",
    "in_size",
    "out_size",
    "output_size",
    "target",
    "input_size",
    "in_channels",
    "out_channels",
    "num_features",
    "kernel",
    "start",
    "stop",
}
PLAUSIBLE = {
    "input_shape": st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
    "layers": st.lists(st.sampled_from(["c3", "c3s2p1", "pool2", "t2s2", "c5d2", "t3s2p1"]), max_size=5),
    "op": st.sampled_from(["conv", "pool", "convtranspose", "conv_transpose"]),
    "mode": st.sampled_from(["constant", "reflect", "nearest", "bilinear", "replicate", "circular"]),
    "padding_mode": st.sampled_from(["zeros", "reflect", "circular"]),
    "pad": st.lists(st.integers(-2, 3), max_size=6).map(tuple),
}


@st.composite
def argument(draw, name: str, default: object, hostile: bool, ndim: int | None = None):
    """One argument: hostile when asked (or one time in eight), plausible otherwise."""
    if hostile or draw(st.integers(0, 7)) == 0:
        if name in ARRAY_NAMES:
            return draw(arrays())
        return draw(st.one_of(nested, arrays(2)))
    if name in PLAUSIBLE:
        return draw(PLAUSIBLE[name])
    if name in ARRAY_NAMES:
        return plausible_array(draw, name, ndim)
    if name in SIZE_NAMES:
        return draw(st.one_of(st.integers(1, 3), st.tuples(*(st.integers(1, 3),) * (ndim or 2))))
    if default is not inspect.Parameter.empty:
        return default
    return draw(st.integers(1, 3))


def targets() -> dict[str, object]:
    """Every public function and layer class of the library API, by qualified name."""
    found = {}
    for module in (functional, lowering, shapes, init, transforms):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                found[f"{module.__name__.split('.')[-1]}.{name}"] = obj
    found["shapes.Window"] = shapes.Window
    found["shapes.Layer.parse"] = shapes.Layer.parse
    for name in nn.__all__:
        obj = getattr(nn, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, nn.Module)
            and obj not in (nn.Module, nn.ModuleList, nn.Sequential)
        ):
            found[f"nn.{name}"] = obj
    return found


TARGETS = targets()


@st.composite
def call(draw, target: object):
    """Arguments for ``target``: usually one parameter hostile and the others plausible."""
    params = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    bad = draw(st.integers(-1, len(params) - 1))
    tail = getattr(target, "__name__", "")[-2:]
    ndim = int(tail[0]) if tail in ("1d", "2d", "3d") else None
    args, kwargs = [], {}
    for i, p in enumerate(params):
        if i != bad and p.default is not p.empty and draw(st.integers(0, 3)) == 0:
            continue
        value = draw(argument(p.name, p.default, i == bad, ndim))
        if p.kind == p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[p.name] = value
    return args, kwargs


class Hang(Exception):
    """Raised by the per-call alarm: the call ran longer than its bound."""


@contextmanager
def bounded(seconds: float = SECONDS, memory: int = MEMORY):
    """The fuzz's sandbox: convlab's memory limit and an alarm that turns a hang into :class:`Hang`."""

    def ring(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with convlab.memory_limit(memory), np.errstate(all="ignore"):
            yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(target: object, args: list, kwargs: dict) -> object:
    """Call ``target`` (and a layer's forward on a small input); return the result or the allowed error.

    In a copy of the current context: ``set_workspace_limit(1)`` drawn by the
    fuzz would otherwise shrink every later convolution's chunks in the session.
    """
    return contextvars.copy_context().run(_run, target, args, kwargs)


def _run(target: object, args: list, kwargs: dict) -> object:
    try:
        result = target(*args, **kwargs)
        if isinstance(target, type) and issubclass(target, nn.Module):
            ndim = result._ranks[-1] - 2 if hasattr(result, "_ranks") else getattr(result, "_ndim", 2)
            channels = getattr(result, "in_channels", getattr(result, "num_features", 1))
            if channels * 8**ndim <= 1 << 16:
                result = result(np.ones((1, channels, *(8,) * ndim), np.float32))
        if isinstance(result, np.ndarray) and result.dtype == object:
            raise AssertionError(f"object array returned by {target!r}")
        return result
    except (ConvlabError, TypeError) as err:
        return err
