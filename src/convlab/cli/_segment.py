"""``convlab segment``: a U-Net's mask of one image, and a side-by-side picture of it.

The single-shot path: the whole image goes through the network at once,
with the paper's overlap-tile border mirrored around it when the network is
unpadded. Each step is a function of arrays, so that tiled inference can
replace :func:`predict` for images too large for memory.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from .. import shapes
from .._args import ConvlabError
from ..io import IMAGE_SUFFIXES, WeightsNote, load_weights, read_image, write_image
from ._table import dumps, fmt
from ._tiled import add_tiling_options, run_tiled
from ._unet_cmds import config_from_args, config_options

__all__ = [
    "add_command",
    "fit_channels",
    "normalise",
    "overlap_tile_border",
    "predict",
    "run",
    "side_by_side",
    "size_rules",
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
        "segment", parents=[common], help="segment a PNG/TIFF image with U-Net weights; write the mask"
    )
    p.add_argument("image", help="input image: .png, .tif or .tiff")
    p.add_argument("--weights", "-w", required=True, help=".safetensors, .npz, .pt or .pth state_dict")
    p.add_argument("-o", "--output", required=True, help="mask file (.png, .tif, .tiff): argmax class, uint8")
    p.add_argument(
        "--layout",
        choices=("auto", "convlab", "milesial", "jvanvugt"),
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
    config_options(p, defaults_from="inferred from the weights", fields=("padding", "pooling"))
    add_tiling_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    if args.tile is not None:
        return run_tiled(args, _model)
    out = Path(args.output)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise ConvlabError(f"--output must end in {', '.join(IMAGE_SUFFIXES)}, got {str(out)!r}")
    side = out.with_name(f"{out.stem}_side_by_side.png")
    model, notes = _model(args)
    image = read_image(args.image)
    x, more = fit_channels(normalise(image, args.normalize), model.in_channels, what=args.image)
    notes += more
    if x.ndim - 1 != model.ndim:
        raise ConvlabError(
            f"the model is {model.ndim}-D but image {args.image!r} has {x.ndim - 1} spatial dimensions "
            f"(shape {fmt(image.shape)})"
        )
    logits, padded = predict(model, x, what=args.image)
    mask = to_mask(logits)
    write_image(mask, out)
    try:
        write_image(side_by_side(image, mask), side)
    except BaseException:
        out.unlink(missing_ok=True)  # both files or neither
        raise
    for note in notes:
        print(f"convlab segment: note: {note}", file=sys.stderr)
    return _report(args, x, padded, mask, out, side)


def _model(args: argparse.Namespace):
    """The U-Net with the weights loaded, and the notes of loading them."""
    from ..models import detect_layout, load_unet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WeightsNote)
        state = load_weights(args.weights)
    layout = detect_layout(state) if args.layout == "auto" else args.layout
    model = load_unet(state, layout=layout, **_load_options(layout, config_from_args(args)))
    return model, [str(w.message) for w in caught]


def _load_options(layout: str, values: dict) -> dict:
    """UNetConfig fields as ``load_unet`` keywords of ``layout``'s model class."""
    if layout == "convlab":
        return values
    options = {}
    if layout == "jvanvugt":
        # The project's padding is a bool; its pooling option names match convlab's.
        if "padding" in values:
            options["padding"] = values.pop("padding") == "same"
        if "pooling" in values:
            options["pooling"] = values.pop("pooling")
    if values:
        raise ConvlabError(
            f"{layout} weights fix or imply {', '.join(sorted(values))}; leave them out of --config and flags"
        )
    return options


def _report(args, x: np.ndarray, padded: tuple[int, ...], mask: np.ndarray, out: Path, side: Path) -> str:
    classes, counts = np.unique(mask, return_counts=True)
    pixels = {int(c): int(n) for c, n in zip(classes, counts)}
    if args.json:
        return dumps(
            {
                "image": args.image,
                "weights": args.weights,
                "input_size": x.shape[1:],
                "network_input_size": padded,
                "mask": str(out),
                "side_by_side": str(side),
                "mask_shape": mask.shape,
                "class_pixels": pixels,
            }
        )
    share = ", ".join(f"class {c}: {n / mask.size:.1%}" for c, n in pixels.items())
    return (
        f"{args.image}: {fmt(x.shape[1:])}, network input {fmt(padded)}\n"
        f"mask {out} ({fmt(mask.shape)} uint8; {share})\nside by side {side}"
    )


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


def size_rules(model) -> dict:
    """The :func:`convlab.shapes.unet_sizes` arguments that describe ``model``'s sizes."""
    from ..models import JvanvugtUNet, MilesialUNet

    config = getattr(model, "config", None)
    if config is not None:
        rules = {"depth": config.depth, "kernel_size": config.kernel_size}
        return {**rules, "convs_per_level": config.convs_per_level, "padding": config.padding}
    if isinstance(model, MilesialUNet):
        # Pytorch-UNet: four pools, two padded 3x3 convolutions per level.
        return {"depth": 4, "kernel_size": 3, "convs_per_level": 2, "padding": "same"}
    if isinstance(model, JvanvugtUNet):
        # jvanvugt/pytorch-unet: `depth` levels, so depth - 1 pools; two 3x3 convolutions each.
        padding = "same" if model.padding else "valid"
        return {"depth": model.depth - 1, "kernel_size": 3, "convs_per_level": 2, "padding": padding}
    raise TypeError(f"model must be one of convlab's U-Nets, got {type(model).__name__}")


def _at_least(n: int, sizes_args: dict) -> int:
    """The smallest input size >= n that the U-Net takes."""
    while True:
        try:
            shapes.unet_sizes(n, **sizes_args)
            return n
        except shapes.UNetSizeError as err:
            if err.above is None or err.above <= n:
                raise
            n = err.above


def overlap_tile_border(spatial: tuple[int, ...], rules: dict, *, what: str = "the image") -> tuple:
    """Per dimension ``(lo, hi)`` mirror padding, so that the network's output covers the image.

    Unpadded U-Net (the paper's overlap-tile strategy, Ronneberger et al.
    2015, Fig. 2): the network consumes ``margin = in - out`` pixels, the
    same for every valid input size, so the image is mirrored by
    ``margin // 2`` before its first pixel; after its last by the rest up to
    the nearest valid input size, whose surplus output is cropped off.
    Padded U-Net: no border; sizes the network cannot take are refused.
    ``rules``: :func:`convlab.shapes.unet_sizes` arguments (:func:`size_rules`).

    Raises
    ------
    UNetSizeError
        A padded U-Net and an image size it cannot take, with the nearest valid sizes.
    """
    sizes_args = dict(rules)
    if sizes_args["padding"] != "valid":
        try:
            shapes.unet_sizes(spatial, **sizes_args)
        except shapes.UNetSizeError as err:
            raise shapes.UNetSizeError(
                f"{what} of size {fmt(spatial)}: {err}", err.layer, err.size, err.below, err.above
            ) from None
        return tuple((0, 0) for _ in spatial)
    pads = []
    for n in spatial:
        first = _at_least(n, sizes_args)
        margin = first - shapes.unet_sizes(first, **sizes_args).output_size[0]
        lo = margin // 2
        pads.append((lo, _at_least(n + margin, sizes_args) - n - lo))
    return tuple(pads)


def predict(model, x: np.ndarray, *, what: str = "the image") -> tuple[np.ndarray, tuple[int, ...]]:
    """The model's output ``(classes, *spatial)`` over the image ``(C, *spatial)``, in one pass.

    Returns the output, cropped to the image, and the size the network was given.
    """
    pads = overlap_tile_border(x.shape[1:], size_rules(model), what=what)
    # NumPy's 'reflect' (no edge repeat, PyTorch's rule) also mirrors more
    # than the image's width, by reflecting repeatedly.
    padded = np.pad(x, ((0, 0), *pads), mode="reflect") if any(lo or hi for lo, hi in pads) else x
    out = model(padded[np.newaxis])[0]
    return out[(slice(None), *(slice(0, n) for n in x.shape[1:]))], padded.shape[1:]


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
