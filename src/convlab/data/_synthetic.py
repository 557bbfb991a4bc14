"""Synthetic fluorescence-like images with their exact masks: the demo's data."""

from __future__ import annotations

import numpy as np

from .._args import ConvlabError, as_int

__all__ = ["synthetic_cells"]

# Cells per pixel: one cell per 30x30 patch on average leaves touching and
# isolated cells both common, as in a moderately dense culture.
_DENSITY = 1 / 900


def _cell_stamp(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One cell: ``(inside mask, brightness)`` on its bounding box, a random ellipse."""
    a, b = rng.uniform(4.0, 10.0, size=2)
    theta = rng.uniform(0, np.pi)
    r = int(np.ceil(max(a, b))) + 1
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    u = (xx * np.cos(theta) + yy * np.sin(theta)) / a
    v = (-xx * np.sin(theta) + yy * np.cos(theta)) / b
    rho = u * u + v * v
    inside = rho <= 1.0
    # Brighter nucleus-like centre, dimmer rim: intensity falls off with radius.
    level = rng.uniform(0.45, 1.0)
    return inside, np.where(inside, level * (1.0 - 0.4 * rho), 0.0).astype(np.float32)


def synthetic_cells(size, seed: int = 0, *, noise: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """A microscopy-like image of bright elliptical cells on a dim, uneven background, and its mask.

    Parameters
    ----------
    size : int or (int, int)
        Height and width.
    seed : int
        The same seed gives the same image on every machine (NumPy's PCG64).
    noise : float
        Standard deviation of the additive Gaussian noise (the cells' contrast is 0.45 to 1).

    Returns
    -------
    image : numpy.ndarray, shape ``(H, W)``, float32
        Blurred cells on a smooth background, plus noise; roughly in [0, 1].
    mask : numpy.ndarray, shape ``(H, W)``, uint8
        1 inside a cell, 0 outside: the ground truth.

    Examples
    --------
    >>> image, mask = synthetic_cells(64, seed=3)
    >>> image.shape, image.dtype, mask.dtype, set(np.unique(mask).tolist()) <= {0, 1}
    ((64, 64), dtype('float32'), dtype('uint8'), True)
    """
    from scipy import ndimage

    h, w = (size, size) if np.ndim(size) == 0 else tuple(size)
    h, w = as_int(h, "size", minimum=1), as_int(w, "size", minimum=1)
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ConvlabError(f"noise must be a non-negative number, got noise={noise!r}")
    rng = np.random.default_rng(as_int(seed, "seed", minimum=0))
    signal = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.poisson(h * w * _DENSITY)):
        inside, bright = _cell_stamp(rng)
        r = inside.shape[0] // 2
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        y0, x0 = max(cy - r, 0), max(cx - r, 0)
        y1, x1 = min(cy + r + 1, h), min(cx + r + 1, w)
        crop = (slice(y0 - cy + r, y1 - cy + r), slice(x0 - cx + r, x1 - cx + r))
        np.maximum(signal[y0:y1, x0:x1], bright[crop], out=signal[y0:y1, x0:x1])
        mask[y0:y1, x0:x1] |= inside[crop]
    # The optics' blur, then a background varying over hundreds of pixels
    # (uneven illumination), then camera noise.
    image = ndimage.gaussian_filter(signal, 1.0)
    background = ndimage.zoom(rng.uniform(0.0, 0.25, (h // 256 + 2, w // 256 + 2)), 256, order=3)[:h, :w]
    image += background.astype(np.float32)
    image += rng.normal(0.0, noise, (h, w)).astype(np.float32)
    return image, mask
