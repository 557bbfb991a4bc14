"""float32 error of Winograd F(m, 3) against a float64 GEMM convolution, per tile size, on the U-Net layers.

For each 3x3 layer of the paper's U-Net (channels 1->64 ... 1024->1024),
random inputs N(0, 1) and He-scaled weights N(0, 1/(9 C_in)), float32
Winograd with tiles 2, 4 and 6 is compared with the same convolution in
float64 (convlab's exact GEMM path): the largest error relative to the
largest output value (the bound the tests enforce), and the median
relative error over outputs larger than 1e-3 of the largest. The float32
GEMM path is shown for scale. ``--size`` trims the spatial size (the error
hardly depends on it; the channel count sets the sum's length).

``--models`` measures whole networks instead: the paper's U-Net at 572^2
and milesial/Pytorch-UNet at 3x512^2 (random weights, seed 0, BatchNorm
statistics randomised), float32 under ``algorithm("winograd")`` against the
same network in float64 by the exact GEMM path.

Usage::

    python benchmarks/winograd_error.py            # spatial size 64
    python benchmarks/winograd_error.py --size 0   # the layers' true sizes (slow)
    python benchmarks/winograd_error.py --models   # whole U-Nets
"""

from __future__ import annotations

import argparse

import numpy as np

from convlab.functional import conv2d
from convlab.functional._winograd import winograd_conv

LAYERS = [(1, 64, 572), (64, 64, 570), (128, 128, 280), (256, 256, 136), (512, 512, 64), (1024, 1024, 30)]


def errors(got: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    scale = np.abs(exact).max()
    big = np.abs(exact) > 1e-3 * scale
    return float(np.abs(got - exact).max() / scale), float(
        np.median(np.abs(got - exact)[big] / np.abs(exact[big]))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64, help="spatial size (0: each layer's own)")
    parser.add_argument("--models", action="store_true", help="whole U-Nets instead of layers")
    args = parser.parse_args()
    if args.models:
        return models()
    print("layer | gemm f32 max/scale | F(2,3) max/scale (median rel) | F(4,3) ... | F(6,3) ...")
    for c_in, c_out, size in LAYERS:
        n = size if args.size == 0 else min(size, args.size)
        rng = np.random.default_rng(c_in)
        x = rng.normal(size=(1, c_in, n, n)).astype(np.float32)
        w = (rng.normal(size=(c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
        exact = conv2d(x.astype(np.float64), w.astype(np.float64))
        row = [f"{c_in}->{c_out} @{n}", f"{errors(conv2d(x, w), exact)[0]:.1e}"]
        for tile in (2, 4, 6):
            worst, median = errors(winograd_conv(x, w, ((0, 0), (0, 0)), 1, tile), exact)
            row.append(f"{worst:.1e} ({median:.1e})")
        print(" | ".join(row), flush=True)


def models() -> None:
    from convlab.functional import algorithm
    from convlab.models import MilesialUNet, UNet, UNetConfig

    nets = {
        "paper U-Net 572 valid": (UNet(UNetConfig(), seed=0), (1, 1, 572, 572)),
        "milesial U-Net 3x512": (_randomised(MilesialUNet(3, 2)), (1, 3, 512, 512)),
    }
    print("network | float32 winograd max/scale (median rel) | float32 gemm max/scale")
    for name, (net, shape) in nets.items():
        x = np.random.default_rng(1).normal(size=shape)
        exact = net.to(np.float64)(x)
        net = net.to(np.float32)
        with algorithm("winograd"):
            fast = net(x.astype(np.float32))
        worst, median = errors(fast, exact)
        gemm = errors(net(x.astype(np.float32)), exact)[0]
        print(f"{name} | {worst:.1e} ({median:.1e}) | {gemm:.1e}", flush=True)


def _randomised(net):
    """BatchNorm running statistics drawn away from 0 and 1, so that the norms do something."""
    rng = np.random.default_rng(2)
    for module in net.modules():
        if hasattr(module, "running_var"):
            c = module.running_var.shape[0]
            module.running_mean[...] = rng.normal(size=c) * 0.1
            module.running_var[...] = rng.random(c) + 0.5
    return net


if __name__ == "__main__":
    main()
