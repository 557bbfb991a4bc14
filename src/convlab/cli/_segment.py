"""``convlab segment``: a U-Net's mask of one image, and a side-by-side picture of it.

The single-shot path: the whole image goes through the network at once
(:func:`convlab.tiling.predict`, with the paper's overlap-tile border
mirrored around it when the network is unpadded); ``--tile`` hands over to
:mod:`._tiled`. This module parses, calls and prints: what sizes a model
takes is its size contract's business, which layouts exist the registry's.

Files: the mask, and beside it ``<mask stem>_side_by_side.png`` (the image,
then the classes coloured over it; ``--no-side-by-side`` leaves it out). A
PNG mask is for eyes: class ``c`` of ``K`` is the grey ``round(255 c / (K - 1))``
(0/255 for two classes). TIFF and ``.npy`` masks hold the class indices.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np

from .._args import ConvlabError
from .._extras import require
from ..io import (
    IMAGE_SUFFIXES,
    WeightsNote,
    atomic_group,
    atomic_path,
    load_weights,
    read_image,
    removed_on_signals,
    write_image,
)
from ..models import LAYOUTS
from ..models._registry import layout as registered_layout
from ..models._registry import option_choices

# overlap_tile_border is imported for the callers of earlier versions, which found it here.
from ..tiling import overlap_tile_border, predict
from ._table import dumps, fmt
from ._tiled import add_tiling_options, run_tiled
from ._unet_cmds import config_from_args, config_options

__all__ = [
    "add_command",
    "fit_channels",
    "mask_levels",
    "normalise",
    "overlap_tile_border",
    "predict",
    "run",
    "side_by_side",
    "to_mask",
]

# ITU-R 601-2 luma, the weights of Pillow's convert("L").
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Class colours of the overlay (matplotlib's tab10 without the grey); class 0 stays uncoloured.
_PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.float32,
)


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "segment",
        parents=[common],
        help="segment a PNG/TIFF image with U-Net weights; write the mask",
        description="Segment an image with a U-Net: write the mask and, beside it, a side-by-side picture. "
        "The files written are listed on stdout.",
    )
    p.add_argument("image", help="input image: .png, .tif or .tiff")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", "-w", help=".safetensors, .npz, .pt or .pth state_dict")
    source.add_argument("--model", help="an ONNX model instead of weights (the onnx extra): model.onnx")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="the mask (argmax class per pixel, uint8): .tif, .tiff or .npy hold the class indices "
        "0..K-1; .png is for viewers: class c of K is grey round(255*c/(K-1)), 0/255 for two classes",
    )
    p.add_argument(
        "--side-by-side",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also write OUTPUT-STEM_side_by_side.png beside the mask: the image, then the classes "
        "coloured over it (default: on; not with --tile)",
    )
    p.add_argument(
        "--layout",
        choices=("auto", *LAYOUTS),
        default="auto",
        help="parameter names of the weights (default: %(default)s, recognised from the keys)",
    )
    p.add_argument(
        "--normalize",
        choices=("dtype", "standardize"),
        default="dtype",
        help="dtype: integers scaled to [0, 1] by their type's range, floats kept; "
        "standardize: per image and channel, zero mean and unit variance (default: %(default)s)",
    )
    # Only what some layout's weights cannot tell is asked for.
    config_options(p, defaults_from="inferred from the weights", fields=tuple(option_choices()))
    add_tiling_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    if args.tile is not None:
        if args.side_by_side:
            raise ConvlabError(
                "--side-by-side draws the whole image, which --tile never holds in memory; "
                "drop --side-by-side or --tile"
            )
        return run_tiled(args, _model)
    out = Path(args.output)
    if out.suffix.lower() not in _OUTPUTS:
        raise ConvlabError(f"--output must end in {', '.join(_OUTPUTS)}, got {str(out)!r}")
    side = out.with_name(f"{out.stem}_side_by_side.png") if args.side_by_side is not False else None
    _require_writers(out, side)
    model, notes = _model(args)
    image = read_image(args.image)
    x = normalise(image, args.normalize)
    if model.in_channels is not None:  # None: an ONNX graph with a symbolic channel count
        x, more = fit_channels(x, model.in_channels, what=args.image)
        notes += more
    if model.ndim is not None and x.ndim - 1 != model.ndim:
        raise ConvlabError(
            f"the model is {model.ndim}-D but image {args.image!r} has {x.ndim - 1} spatial dimensions "
            f"(shape {fmt(image.shape)})"
        )
    if x.ndim == 4 and out.suffix.lower() == ".png":  # before the network runs, not after
        raise ConvlabError(
            f"image {args.image!r} is 3-D (shape {fmt(image.shape)}): a PNG holds one plane; "
            "write the mask as .tif, .tiff or .npy"
        )
    logits, padded = predict(model, x, what=args.image)
    mask = to_mask(logits)
    classes = max(2, logits.shape[0])
    # Both files or neither; a previous mask survives any failure.
    with removed_on_signals(), atomic_group():
        _write_mask(mask, out, classes)
        if side is not None:
            write_image(side_by_side(image, mask), side)
    for note in notes:
        print(f"convlab segment: note: {note}", file=sys.stderr)
    return _report(args, x, padded, mask, out, side, classes)


# Single-shot masks: the image formats, and .npy for class indices without any extra package.
_OUTPUTS = (*IMAGE_SUFFIXES, ".npy")


def _require_writers(out: Path, side: Path | None) -> None:
    """Every package the outputs need, checked before the model runs rather than after."""
    if out.suffix.lower() == ".png" or side is not None:
        require("PIL.Image", "io", f"writing {side if out.suffix.lower() != '.png' else out}")
    if out.suffix.lower() in (".tif", ".tiff"):
        require("tifffile", "io", f"writing {out}")


def _write_mask(mask: np.ndarray, out: Path, classes: int) -> None:
    if out.suffix.lower() == ".npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as file:
            np.save(file, mask, allow_pickle=False)
    elif out.suffix.lower() == ".png":
        write_image(mask_levels(mask, classes), out)
    elif mask.ndim == 3:
        # A volume: write_image takes planes and colour images, whose (H, W, 3) a volume may look like.
        tifffile = require("tifffile", "io", f"writing {out}")
        with atomic_path(out) as tmp:
            tifffile.imwrite(tmp, mask, photometric="minisblack", metadata={"axes": "ZYX"})
    else:
        write_image(mask, out)


def mask_levels(mask: np.ndarray, classes: int) -> np.ndarray:
    """Class indices as the greys a viewer shows: class ``c`` of ``K`` is ``round(255 c / (K - 1))``.

    The levels spread evenly over 0..255 (halves round up), so two classes
    are 0 and 255 and every class keeps its own grey, up to 256 classes.

    >>> mask_levels(np.array([[0, 1, 2]], np.uint8), 3)
    array([[  0, 128, 255]], dtype=uint8)
    """
    if not 2 <= classes <= 256:
        raise ConvlabError(f"classes must be in 2..256 for a grey PNG mask, got classes={classes}")
    c = mask.astype(np.int64)
    # Integer rounding of 255 c / (K - 1), halves up: no float in the way of the exact level.
    return ((510 * c + classes - 1) // (2 * (classes - 1))).astype(np.uint8)


def _model(args: argparse.Namespace):
    """The U-Net with the weights loaded (or the ONNX model), and the notes of loading them."""
    if args.model is not None:
        require("onnx", "onnx", f"reading {args.model}")
        from ..onnx import load

        return load(args.model), []
    from ..models import detect_layout, load_unet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WeightsNote)
        state = load_weights(args.weights)
    layout = detect_layout(state) if args.layout == "auto" else args.layout
    options = registered_layout(layout).model_options(config_from_args(args))
    model = load_unet(state, layout=layout, **options)
    return model, [str(w.message) for w in caught]


def _report(args, x, padded, mask: np.ndarray, out: Path, side: Path | None, classes: int) -> str:
    found, counts = np.unique(mask, return_counts=True)
    pixels = {int(c): int(n) for c, n in zip(found, counts)}
    png = out.suffix.lower() == ".png"
    if args.json:
        return dumps(
            {
                "image": args.image,
                "weights": args.weights,
                "input_size": x.shape[1:],
                "network_input_size": padded,
                "mask": str(out),
                "side_by_side": None if side is None else str(side),
                "mask_shape": mask.shape,
                "classes": classes,
                "mask_values": [int(v) for v in mask_levels(np.arange(classes), classes)]
                if png
                else list(range(classes)),
                "class_pixels": pixels,
            }
        )
    share = ", ".join(f"class {c} {n / mask.size:.1%}" for c, n in pixels.items())
    levels = mask_levels(np.arange(classes), classes)
    values = "/".join(map(str, levels)) if classes <= 4 else f"{levels[0]}, {levels[1]}, ..., 255"
    stored = f"greys {values} for classes 0..{classes - 1}" if png else f"class indices 0..{classes - 1}"
    lines = [
        f"{args.image}: {fmt(x.shape[1:])}, network input {fmt(padded)}",
        f"wrote {out}: the mask, {fmt(mask.shape)} uint8, {stored}",
        *textwrap.wrap(f"pixels: {share}", 100, initial_indent="  ", subsequent_indent="    "),
    ]
    if side is not None:
        lines.append(f"wrote {side}: the image | the classes coloured over it")
    return "\n".join(lines)


def normalise(image: np.ndarray, mode: str = "dtype") -> np.ndarray:
    """``(C, *spatial)`` image as float32: by its dtype's range, or standardised per channel.

    ``'dtype'``: unsigned and signed integers map their type's full range to
    [0, 1] (uint8 by 255, uint16 by 65535); booleans to 0 and 1; floats are
    taken as already scaled. ``'standardize'``: each channel to zero mean and
    unit standard deviation over the image (a constant channel to zeros).
    """
    if mode == "standardize":
        data = image.astype(np.float64)
        axes = tuple(range(1, data.ndim))
        std = data.std(axis=axes, keepdims=True)
        return ((data - data.mean(axis=axes, keepdims=True)) / np.where(std > 0, std, 1)).astype(np.float32)
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        return ((image.astype(np.float64) - info.min) / (info.max - info.min)).astype(np.float32)
    return image.astype(np.float32)


def fit_channels(x: np.ndarray, in_channels: int, *, what: str = "the image") -> tuple[np.ndarray, list[str]]:
    """Match the image's channels to the model's; the notes say what was converted.

    Equal counts pass; a last channel beyond grey (2) or RGB (4) is taken as
    alpha and dropped; RGB goes to grey by ITU-R 601-2 luma, grey to RGB by
    repetition. Anything else is refused.
    """
    notes = []
    channels = x.shape[0]
    if channels != in_channels and channels in (2, 4) and in_channels in (1, 3):
        x = x[:-1]
        notes.append(f"dropped the alpha channel (channel {channels - 1}) of {what}")
    if x.shape[0] == 3 and in_channels == 1:
        x = np.tensordot(_LUMA, x, axes=1)[np.newaxis]
        notes.append(f"converted RGB {what} to grey (ITU-R 601-2 luma) for a 1-channel model")
    elif x.shape[0] == 1 and in_channels == 3:
        x = np.repeat(x, 3, axis=0)
        notes.append(f"repeated grey {what} into 3 channels for an RGB model")
    if x.shape[0] != in_channels:
        raise ConvlabError(
            f"the model takes in_channels={in_channels} but {what} has {channels} channels; "
            "convlab converts only grey <-> RGB and drops an alpha channel"
        )
    return np.ascontiguousarray(x, dtype=np.float32), notes


def to_mask(logits: np.ndarray) -> np.ndarray:
    """Class indices ``(*spatial)`` as uint8: argmax over classes; one class: logit > 0."""
    if logits.shape[0] > 256:
        raise ConvlabError(f"a uint8 mask holds at most 256 classes, the model has {logits.shape[0]}")
    # One output channel is a binary model with a sigmoid: p > 0.5 where the logit is > 0.
    mask = logits[0] > 0 if logits.shape[0] == 1 else np.argmax(logits, axis=0)
    return mask.astype(np.uint8)


def _display(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 picture of a ``(C, H, W)`` image: RGB or grey, stretched unless uint8."""
    data = image[:3] if image.shape[0] >= 3 else image[:1]
    if data.dtype != np.uint8:
        data = data.astype(np.float64)
        low, high = data.min(), data.max()
        data = np.round(255 * (data - low) / (high - low if high > low else 1)).astype(np.uint8)
    return np.broadcast_to(np.moveaxis(data, 0, -1), (*data.shape[1:], 3))


def side_by_side(image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """``(H, 2W + 4, 3)`` uint8: the image, then the mask's classes coloured over it.

    3-D images show their middle slice. Class 0 is left uncoloured.
    """
    if image.ndim == 4:
        image, mask = image[:, image.shape[1] // 2], mask[mask.shape[0] // 2]
    picture = _display(image)
    colours = _PALETTE[(mask.astype(np.intp) - 1) % len(_PALETTE)]
    blend = np.where((mask > 0)[..., np.newaxis], (1 - alpha) * picture + alpha * colours, picture)
    gap = np.full((mask.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([picture, gap, np.round(blend).astype(np.uint8)], axis=1)
