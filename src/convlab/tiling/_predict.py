"""``predict_tiled``: a model over an image of any size, one window at a time."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ..io import removed_on_signals
from ._contracts import size_contract_of
from ._plan import TilePlan, plan_tiles
from ._progress import make_progress
from ._sinks import DeferredSink
from ._sources import open_source
from ._tile import expected_output, run_tile

__all__ = ["TilingStats", "predict_tiled"]


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


def _in_channels(model: object) -> int | None:
    """The channels the model takes, where it says (convlab's models, a wrapper's config); else None."""
    for holder in (model, getattr(model, "config", None)):
        channels = getattr(holder, "in_channels", None)
        if isinstance(channels, int):
            return channels
    return None


def _run_local(model, source, sink, plan, progress, labels, dtype, stats) -> None:
    expected = expected_output(plan)
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


def _stats(stats: object) -> TilingStats:
    if stats is None:
        return TilingStats()
    if not isinstance(stats, TilingStats):
        raise TypeError(f"stats must be a TilingStats or None, got {type(stats).__name__} {stats!r:.60}")
    return stats


def _window_dtype(dtype: object) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy floating dtype, got {dtype!r:.60}") from None
    if dtype.kind != "f":
        raise ConvlabError(
            f"dtype must be a floating dtype (float32 or float64): the windows are cast to it and "
            f"{dtype} would truncate the image; got dtype={dtype}"
        )
    return dtype


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
    """Run a model over an image of any size by overlap-tile, reading and writing window by window.

    Parameters
    ----------
    model : callable on ``(1, C, *window)`` arrays with a ``size_contract``
        Any of convlab's U-Nets (:class:`~convlab.models.UNet`,
        ``MilesialUNet``, ``JvanvugtUNet``), an ONNX model, or any object
        with ``size_contract`` (a :class:`~convlab.shapes.SizeContract`) and
        ``__call__`` (or ``forward``). Its ``in_channels``, if it has one,
        checks the image's channels.
    image : array_like ``(C, *spatial)`` or ``(*spatial)`` for one channel, np.memmap, zarr array, or path
        A ``.npy`` (memory-mapped), ``.tif``/``.tiff`` (memory-mapped when
        uncompressed, else read strip by strip) or ``.zarr`` path.
    tile : int or sequence of int, optional
        The model's input window (572 as in the paper): see :func:`plan_tiles`.
    halo : int or sequence of int, optional
        Extra context per side; default the contract's (:func:`default_halo`:
        0 for an unpadded U-Net, the reach of the window's edge for a padded one).
    out : None, array, or ``.npy``/``.tif``/``.tiff``/``.zarr`` path
        None returns a new array; an array is filled in place; a path is
        written under a temporary name and renamed when complete.
    labels : bool
        Write class indices (``uint8``: argmax, or ``logit > 0`` for one
        class) instead of the ``(classes, *spatial)`` logits.
    dtype : numpy floating dtype, optional
        The windows' dtype for the model: float64 for float64 images, else
        float32. Integer dtypes are refused: casting the windows to them
        would truncate the image silently.
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
    The output's channels are the model's: the output array or file is
    created when the first tile returns. Unpadded U-Net: the result *equals* inference on the whole image,
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
    A contract that is not ``exact`` (``align_corners=True`` interpolation)
    makes the result an approximation.
    A file output reserves its full size on disk (``posix_fallocate``)
    before the first tile for ``labels``, after the first tile for logits
    (whose channels the first tile tells): a full disk is a
    :class:`~convlab.ConvlabError` with the partial file removed. SIGTERM
    and SIGINT during the run remove the temporary file too.
    An image smaller than a tile is mirror-padded to the window. Memory:
    about one window, its feature maps and one output core, whatever the
    image's size.
    """
    stats = _stats(stats)
    start = time.perf_counter()
    contract = size_contract_of(model)
    source = open_source(image, _in_channels(model), contract.ndim)
    plan = plan_tiles(contract, source.shape[1:], tile, halo)
    stats.plan = plan
    if dtype is None:
        dtype = np.float64 if source.dtype == np.float64 else np.float32
    dtype = _window_dtype(dtype)
    if scheduler is not None:  # before the output file is reserved
        require("dask.distributed", "dask", "running the tiles on a Dask scheduler")
    with removed_on_signals():
        sink = DeferredSink(out, plan.image, plan.stride, dtype, labels)
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
