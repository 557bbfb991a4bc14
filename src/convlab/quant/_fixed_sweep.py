"""Which bit width? A segmentation U-Net in fixed point per word width, scored by IoU.

For each word width ``W`` the formats come from :func:`calibrate_formats` on
calibration images (never the scored ones): every tensor gets the fewest
integer bits that hold its largest float magnitude, the rest of the ``W``
bits are fraction. The fixed-point prediction (argmax of the head's codes)
is scored against the ground truth and against the float model's own
prediction. hls4ml's default, ``ap_fixed<16,6>`` everywhere (AP_TRN,
AP_WRAP), is scored alongside as one uncalibrated reference point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .._args import ConvlabError
from ..shapes import center_crop_box
from ._fixed_formats import FormatTable
from ._fixed_unet import calibrate_formats, fixed_unet

__all__ = ["SweepRow", "bit_width_sweep"]


@dataclass(frozen=True)
class SweepRow:
    """One format choice scored: IoU against the truth and against the float model, pixel agreement."""

    label: str
    word_bits: int | None
    iou_truth: float
    iou_float: float
    agreement: float


def _iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    p, t = prediction.astype(bool), truth.astype(bool)
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def _row(label, bits, prediction, truth, reference) -> SweepRow:
    agreement = float(np.mean(prediction == reference))
    return SweepRow(label, bits, _iou(prediction, truth), _iou(prediction, reference), agreement)


def bit_width_sweep(
    model,
    images,
    truths,
    calibration,
    widths: Iterable[int] = range(6, 17),
    *,
    rounding: str = "rnd_conv",
    overflow: str = "sat",
    tables: Mapping[str, FormatTable] | None = None,
) -> list[SweepRow]:
    """Score ``model`` (a segmentation ``convlab.models.UNet``) in float and in fixed point per word width.

    Parameters
    ----------
    model : convlab.models.UNet
        Logits ``(N, classes, *out)``; the prediction is their argmax.
    images : array_like, shape ``(N, C_in, *spatial)``
        The scored images.
    truths : array_like of int, shape ``(N, *spatial)``
        Their label masks, centre-cropped here to the model's output size.
    calibration : array_like, shape ``(M, C_in, *spatial)``
        Images that set each layer's integer bits (keep them apart from ``images``).
    widths : iterable of int
        Word widths, each used for every tensor of the network.
    rounding, overflow : str
        The modes of every calibrated format (the accumulators are full precision).
    tables : mapping of str to FormatTable, optional
        Format tables of your own, scored too, one row each under their key.

    Returns
    -------
    list of SweepRow
        ``'float32'`` (the model itself), one row per width, ``'hls4ml ap_fixed<16,6>'``,
        then one per entry of ``tables``.
        IoU is of the class-1 (foreground) masks, pooled over all images.
    """
    x = np.asarray(images, dtype=np.float64)
    truth = np.asarray(truths)
    if truth.shape != (x.shape[0], *x.shape[2:]):
        want = (x.shape[0], *x.shape[2:])
        raise ConvlabError(f"truths must have shape (N, *spatial) = {want}, got {truth.shape}")
    logits = model(x.astype(model.dtype))
    box = center_crop_box(truth.shape[1:], logits.shape[2:])
    truth = truth[(slice(None), *box.slices)]
    reference = logits.argmax(axis=1)
    rows = [_row("float32", None, reference, truth, reference)]
    for bits in widths:
        table = calibrate_formats(model, calibration, bits, rounding=rounding, overflow=overflow)
        codes, _ = fixed_unet(model, x, table)
        rows.append(_row(f"W={bits}", bits, codes.argmax(axis=1), truth, reference))
    extra = {"hls4ml ap_fixed<16,6>": FormatTable(), **(tables or {})}
    for label, table in extra.items():
        codes, _ = fixed_unet(model, x, table)
        rows.append(_row(label, None, codes.argmax(axis=1), truth, reference))
    return rows
