"""``predict_tiled``: a U-Net over an image of any size, one window at a time."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError
from ._plan import Tile, TilePlan, plan_tiles
from ._progress import make_progress
from ._sinks import open_sink
from ._sources import open_source

__all__ = ["TilingStats", "predict_tiled", "run_tile"]


@dataclass
class TilingStats:
    """Where the time of a :func:`predict_tiled` run went, in seconds; pass one as ``stats=`` to fill it.

    ``compute`` sums the model's time over the tiles (measured where the
    tile ran: on the workers under Dask), ``read`` and ``write`` the I/O of
    this process, ``total`` the wall clock of the whole call.
    """

    tiles: int = 0
    compute: float = 0.0
    read: float = 0.0
    write: float = 0.0
    total: float = 0.0
    plan: TilePlan | None = None


def model_config(model: object) -> object:
    """The U-Net configuration of ``model``: its ``config`` attribute (a ``UNetConfig``)."""
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(
            f"model must carry its U-Net configuration as model.config (a UNetConfig), "
            f"got {type(model).__name__} without one"
        )
    return config


def _forward(model: object, x: np.ndarray) -> np.ndarray:
    forward = getattr(model, "forward", None) or model
    if not callable(forward):
        raise TypeError(f"model must be callable or have forward(x), got {type(model).__name__}")
    return np.asarray(forward(x))


def _to_labels(y: np.ndarray) -> np.ndarray:
    # One class: a logit above 0 is a probability above 1/2 after the sigmoid.
    if y.shape[0] == 1:
        return (y[0] > 0).astype(np.uint8)
    return y.argmax(axis=0).astype(np.uint8 if y.shape[0] <= 256 else np.int32)


def run_tile(model, window: np.ndarray, tile: Tile, expected: tuple[int, ...], labels: bool, dtype):
    """The kept core of one tile and the model's seconds: ``(block, seconds)``.

    ``window`` is ``(C, *window)``; ``expected`` the spatial output size the
    plan computed from the model's configuration.
    """
    start = time.perf_counter()
    y = _forward(model, np.ascontiguousarray(window, dtype=dtype)[np.newaxis])
    seconds = time.perf_counter() - start
    if y.shape[2:] != expected:
        raise ConvlabError(
            f"the model returned spatial size {y.shape[2:]} for a window of {window.shape[1:]}; its "
            f"config promises {expected}: does model.config describe the model?"
        )
    core = y[(0, slice(None), *tile.keep)]
    return (_to_labels(core) if labels else core), seconds


def _output_spec(config, plan: TilePlan, dtype: np.dtype, labels: bool):
    classes = int(getattr(config, "classes", getattr(config, "out_channels", 1)))
    if labels:
        return plan.image, np.dtype(np.uint8 if classes <= 256 else np.int32), plan.stride
    return (classes, *plan.image), dtype, (classes, *plan.stride)


def _expected(plan: TilePlan) -> tuple[int, ...]:
    return tuple(w - lo - hi for w, (lo, hi) in zip(plan.window, plan.margin))


def _run_local(model, source, sink, plan, progress, labels, dtype, stats) -> None:
    expected = _expected(plan)
    for tile in plan.tiles():
        t0 = time.perf_counter()
        window = source.read(tile.window)
        t1 = time.perf_counter()
        block, seconds = run_tile(model, window, tile, expected, labels, dtype)
        t2 = time.perf_counter()
        sink.write(tile.dest, block)
        stats.read += t1 - t0
        stats.compute += seconds
        stats.write += time.perf_counter() - t2
        stats.tiles += 1
        progress.update()


def predict_tiled(
    model,
    image,
    /,
    tile=None,
    *,
    halo=None,
    out=None,
    labels: bool = False,
    dtype=None,
    progress=None,
    scheduler=None,
    stats: TilingStats | None = None,
):
    """Run a U-Net over an image of any size by overlap-tile, reading and writing window by window.

    Parameters
    ----------
    model : UNet or any callable on ``(1, C, *window)`` arrays with a ``config`` attribute
        ``config`` holds ``depth``, ``kernel_size``, ``convs_per_level``,
        ``padding``, ``in_channels``, ``classes`` and ``ndim`` (a ``UNetConfig``).
    image : array_like ``(C, *spatial)`` or ``(*spatial)`` for one channel, np.memmap, zarr array, or path
        A ``.npy`` (memory-mapped), ``.tif``/``.tiff`` (memory-mapped when
        uncompressed, else read strip by strip) or ``.zarr`` path.
    tile : int or sequence of int, optional
        The model's input window (572 as in the paper): see :func:`plan_tiles`.
    halo : int or sequence of int, optional
        Extra context per side; default :func:`default_halo` (0 for the
        unpadded U-Net, the receptive-field radius for a padded one).
    out : None, array, or ``.npy``/``.tif``/``.tiff``/``.zarr`` path
        None returns a new array; an array is filled in place; a path is
        written under a temporary name and renamed when complete.
    labels : bool
        Write class indices (``uint8``: argmax, or ``logit > 0`` for one
        class) instead of the ``(classes, *spatial)`` logits.
    dtype : numpy dtype, optional
        The windows' dtype for the model: float64 for float64 images, else float32.
    progress : None, bool or callable
        A tqdm bar when stderr is a terminal (None), always (True), never
        (False); a callable gets ``(done, total)`` after each tile.
    scheduler : dask.distributed.Client or str, optional
        Run the tiles as Dask tasks on this client (or scheduler address);
        this process reads in-memory sources and writes the output.
    stats : TilingStats, optional
        Filled with the run's timings.

    Returns
    -------
    numpy.ndarray or array or pathlib.Path
        The output: ``(classes, *spatial)`` logits or ``(*spatial)`` labels.

    Notes
    -----
    Unpadded U-Net: the result *equals* inference on the whole image,
    mirror-padded by the network's margin (and to a valid size at the end),
    pixel for pixel, because every window starts on the whole image's
    pooling grid and reads its output's whole receptive field. In float64
    it is bit-identical; in float32 it may differ in the last bits: BLAS
    blocks a GEMM by its sizes (and picks kernels by them), and a window's
    GEMMs have other sizes than the whole image's, so the order of the
    float32 additions, hence their rounding, can differ. Padded U-Net: the
    kept cores equal whole-image inference wherever the whole image's zero
    padding is farther than the halo (see :func:`default_halo`); near the
    image's border, tiles see mirrored pixels, whole-image inference zeros.
    An image smaller than a tile is mirror-padded to the window. Memory:
    about one window, its feature maps and one output core, whatever the
    image's size.
    """
    stats = TilingStats() if stats is None else stats
    start = time.perf_counter()
    config = model_config(model)
    ndim = int(getattr(config, "ndim", 2))
    source = open_source(image, int(getattr(config, "in_channels", 1)), ndim)
    plan = plan_tiles(config, source.shape[1:], tile, halo)
    stats.plan = plan
    if dtype is None:
        dtype = np.float64 if source.dtype == np.float64 else np.float32
    dtype = np.dtype(dtype)
    sink = open_sink(out, *_output_spec(config, plan, dtype, labels))
    bar = make_progress(progress, plan.total)
    try:
        if scheduler is None:
            _run_local(model, source, sink, plan, bar, labels, dtype, stats)
        else:
            from ._dask import run_distributed

            run_distributed(model, source, sink, plan, bar, labels, dtype, stats, scheduler)
        result = sink.commit()
    except BaseException:
        sink.abort()
        raise
    finally:
        bar.close()
    stats.total = time.perf_counter() - start
    return result
