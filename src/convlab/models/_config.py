"""``UNetConfig``: the hyper-parameters of convlab's own U-Net, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from .._args import ConvlabError, as_int
from ..shapes import UNetSizes, unet_sizes

__all__ = ["UNetConfig"]

_CHOICES = {
    "padding": ("valid", "same"),
    "pooling": ("max", "avg"),
    "up_mode": ("transpose", "bilinear"),
}


@dataclass(frozen=True)
class UNetConfig:
    """The U-Net of Ronneberger et al. (2015) and its common variants.

    Parameters
    ----------
    in_channels : int, default 1
        Channels of the input image.
    classes : int, default 2
        Channels of the output (one logit per class).
    depth : int, default 4
        Number of 2x2 poolings; the network has ``depth + 1`` levels.
    width : int, default 64
        Channels of the first level, doubled at every level below:
        ``width * 2**depth`` at the bottom.
    convs_per_level : int, default 2
        Convolutions (each followed by [BatchNorm and] ReLU) per level.
    kernel_size : int, default 3
    padding : {'valid', 'same'}
        ``'valid'``: unpadded convolutions, the paper (572 -> 388); every skip
        is center-cropped by torchvision's rule to the decoder's size.
        ``'same'``: padded convolutions (Pytorch-UNet); an odd size is matched
        by zero-padding the up-sampled features, the odd pixel at the end.
    batch_norm : bool, default False
        conv -> BatchNorm -> ReLU; the convolutions then have no bias (a bias
        before BatchNorm is redundant, as Pytorch-UNet drops it).
    pooling : {'max', 'avg'}
        The 2x2 down-sampling.
    up_mode : {'transpose', 'bilinear'}
        ``'transpose'``: a 2x2, stride-2 transposed convolution halving the
        channels (the paper's up-convolution). ``'bilinear'``: interpolation x2
        (bilinear, or linear / trilinear for ``ndim`` 1 / 3; ``align_corners=True``
        as Pytorch-UNet) then a 1x1 convolution halving the channels, so that
        both modes have the same channel counts everywhere.
    ndim : {1, 2, 3}, default 2
        Spatial dimensions of the input.

    Examples
    --------
    >>> config = UNetConfig(padding="same", width=8)
    >>> config.channels
    (8, 16, 32, 64, 128)
    >>> UNetConfig().sizes(572).output_size
    (388,)
    """

    in_channels: int = 1
    classes: int = 2
    depth: int = 4
    width: int = 64
    convs_per_level: int = 2
    kernel_size: int = 3
    padding: str = "valid"
    batch_norm: bool = False
    pooling: str = "max"
    up_mode: str = "transpose"
    ndim: int = 2

    def __post_init__(self) -> None:
        for name in ("in_channels", "classes", "width", "convs_per_level", "kernel_size"):
            as_int(getattr(self, name), name, minimum=1)
        as_int(self.depth, "depth", minimum=0)
        if as_int(self.ndim, "ndim", minimum=1) > 3:
            raise ConvlabError(f"ndim must be 1, 2 or 3 spatial dimensions, got ndim={self.ndim}")
        for name, options in _CHOICES.items():
            if getattr(self, name) not in options:
                expected = " or ".join(repr(o) for o in options)
                raise ConvlabError(f"{name} must be {expected}, got {name}={getattr(self, name)!r}")
        if not isinstance(self.batch_norm, bool):
            raise TypeError(
                f"batch_norm must be a bool, got {type(self.batch_norm).__name__} {self.batch_norm!r}"
            )

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels per level, top first: ``width * 2**level``."""
        return tuple(self.width << level for level in range(self.depth + 1))

    def sizes(self, input_size: int | tuple[int, ...]) -> UNetSizes:
        """:func:`convlab.shapes.unet_sizes` for this configuration (raises ``UNetSizeError``)."""
        return unet_sizes(
            input_size,
            depth=self.depth,
            kernel_size=self.kernel_size,
            convs_per_level=self.convs_per_level,
            padding=self.padding,
        )
