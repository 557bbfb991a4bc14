"""The tiles of :func:`predict_tiled` as tasks on a ``dask.distributed`` cluster.

One task per tile, a bounded number in flight, results written by this
process as they complete. Nothing here is scattered: the model and the
windows read by this process travel inside the task specifications, so the
scheduler can recompute any task whose worker dies, including the one that
holds the model. Dask reschedules the tasks of a lost worker by itself.
"""

from __future__ import annotations

import itertools

from .._args import ConvlabError
from .._extras import require
from ._tile import expected_output, run_tile

__all__ = ["run_distributed"]


def _identity(value):
    return value


def _remote_tile(model, source, tile, expected, labels, dtype):
    # The worker opens the file itself: only the output core travels back.
    return run_tile(model, source.read(tile.window), tile, expected, labels, dtype)


def _connect(scheduler):
    """``(client, owned)``: the given client, or one connected to an address and closed afterwards."""
    Client = require("dask.distributed", "dask", "running the tiles on a Dask scheduler").Client

    if isinstance(scheduler, Client):
        return scheduler, False
    if not isinstance(scheduler, str):
        raise TypeError(
            "scheduler must be a dask.distributed.Client or an address string, "
            f"got {type(scheduler).__name__}"
        )
    try:
        # Dask's own connect timeout (distributed.comm.timeouts.connect), so
        # that a user's dask configuration decides how long to wait.
        return Client(scheduler), True
    except (OSError, TimeoutError) as err:
        raise ConvlabError(f"scheduler {scheduler!r} cannot be reached: {err}") from None


def run_distributed(model, source, sink, plan, progress, labels, dtype, stats, scheduler) -> None:
    """Run every tile of ``plan`` on the cluster and write each core to ``sink`` as it arrives."""
    as_completed = require("dask.distributed", "dask", "running the tiles on a Dask scheduler").as_completed

    client, owned = _connect(scheduler)
    try:
        model_future = client.submit(_identity, model, pure=False)
        expected = expected_output(plan)
        # Two tasks per worker thread keep every worker busy while this
        # process writes; a bound keeps the results in flight to a few tiles.
        limit = 2 * max(1, sum(client.nthreads().values())) + 2
        tiles = plan.tiles()
        pending = {}

        def submit(tile):
            if source.remote:
                args = (_remote_tile, model_future, source, tile)
            else:
                args = (run_tile, model_future, source.read(tile.window), tile)
            future = client.submit(*args, expected, labels, dtype, pure=False)
            pending[future.key] = tile
            return future

        running = as_completed([submit(t) for t in itertools.islice(tiles, limit)])
        for future in running:
            block, seconds = future.result()
            sink.write(pending.pop(future.key).dest, block)
            future.release()
            stats.compute += seconds
            stats.tiles += 1
            progress.update()
            for tile in itertools.islice(tiles, 1):
                running.add(submit(tile))
    finally:
        if owned:
            client.close()
