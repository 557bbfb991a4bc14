"""Overlap-tile inference of a U-Net on images larger than memory, in process or on Dask.

The tiles come from the U-Net's shape arithmetic (:mod:`convlab.shapes`);
images are read and outputs written one window at a time.
"""

from ._plan import Tile, TilePlan, default_halo, plan_tiles
from ._predict import TilingStats, predict_tiled
from ._sources import reflect_indices

__all__ = [
    "Tile",
    "TilePlan",
    "TilingStats",
    "default_halo",
    "plan_tiles",
    "predict_tiled",
    "reflect_indices",
]
