"""``UNetConfig``: the hyper-parameters of convlab's own U-Net, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from .._args import ConvlabError, as_int
from ..shapes import UNetSizes, unet_sizes
from ..shapes._unet import MAX_CONVS, MAX_DEPTH, capped

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
        for name in ("in_channels", "classes", "width", "kernel_size"):
            as_int(getattr(self, name), name, minimum=1)
        capped(self.depth, "depth", 0, MAX_DEPTH)
        capped(self.convs_per_level, "convs_per_level", 1, MAX_CONVS)
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

    def parameter_count(self) -> int:
        """The weights and biases of convlab's :class:`UNet` of this configuration (exact).

        Computed from the channel counts alone, so a model can be refused by
        the memory policy before any array is drawn.

        >>> UNetConfig().parameter_count()
        31030658
        """
        taps, ch, convs = self.kernel_size**self.ndim, self.channels, self.convs_per_level
        extra = 2 if self.batch_norm else 1  # BN: weight and bias replace the conv bias

        def level(c_in: int, c: int) -> int:
            return (c_in * c + (convs - 1) * c * c) * taps + convs * c * extra

        total = sum(level(ch[i - 1] if i else self.in_channels, ch[i]) for i in range(self.depth + 1))
        up_taps = 2**self.ndim if self.up_mode == "transpose" else 1
        total += sum(ch[i + 1] * ch[i] * up_taps + ch[i] + level(2 * ch[i], ch[i]) for i in range(self.depth))
        return total + ch[0] * self.classes + self.classes

    def buffer_count(self) -> int:
        """The BatchNorm running means and variances (0 without ``batch_norm``)."""
        if not self.batch_norm:
            return 0
        ch = self.channels
        return 2 * self.convs_per_level * (sum(ch) + sum(ch[: self.depth]))

    def sizes(self, input_size: int | tuple[int, ...]) -> UNetSizes:
        """:func:`convlab.shapes.unet_sizes` for this configuration (raises ``UNetSizeError``)."""
        return unet_sizes(
            input_size,
            depth=self.depth,
            kernel_size=self.kernel_size,
            convs_per_level=self.convs_per_level,
            padding=self.padding,
        )
