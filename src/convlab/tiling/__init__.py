"""Overlap-tile inference of any model with a size contract, in process or on Dask.

The tiles come from the model's :class:`~convlab.shapes.SizeContract` (valid
sizes, margin, alignment, halo); images are read and outputs written one
window at a time. :func:`predict` is the whole-image pass the tiles equal.
"""

from ._contracts import size_contract_of
from ._plan import Tile, TilePlan, default_halo, plan_tiles
from ._predict import TilingStats, predict_tiled
from ._sources import reflect_indices
from ._whole import overlap_tile_border, predict

__all__ = [
    "Tile",
    "TilePlan",
    "TilingStats",
    "default_halo",
    "overlap_tile_border",
    "plan_tiles",
    "predict",
    "predict_tiled",
    "reflect_indices",
    "size_contract_of",
]
