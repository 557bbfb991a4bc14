"""The cases of ``bench_peers.py``: U-Net layers and whole U-Nets, for convlab, torch and onnxruntime.

Every case builds, for one library, a zero-argument callable that runs it
once. Layer shapes are those of the paper's 572x572 U-Net (float32, batch 1);
whole networks are the upstream architectures of ``tests/torch_unets.py``:
the paper's unpadded U-Net at 572^2, milesial/Pytorch-UNet at 3x512^2
(BatchNorm, transposed up-convolutions), and a 3-D U-Net (depth 3, width 16,
unpadded) at 108^3. Weights are random and independent per library (the
tests hold the values equal; this file only times).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # conv, upconv, pool, bn, model
    shape: tuple[int, ...]  # input (N, C, *spatial)
    out_channels: int = 0
    model: str = ""

    def flops(self) -> float:
        """Multiply-adds x 2 of the convolution cases (0 for the others)."""
        n, c, *size = self.shape
        if self.kind == "conv":
            out = np.prod([s - 2 for s in size])
            return 2.0 * n * self.out_channels * c * 9 * out
        if self.kind == "upconv":
            return 2.0 * n * self.out_channels * c * 4 * np.prod(size)
        return 0.0


LAYERS = [
    Case("conv k3 64->64 @570", "conv", (1, 64, 570, 570), 64),
    Case("conv k3 128->128 @280", "conv", (1, 128, 280, 280), 128),
    Case("conv k3 256->256 @136", "conv", (1, 256, 136, 136), 256),
    Case("conv k3 512->512 @64", "conv", (1, 512, 64, 64), 512),
    Case("conv k3 1024->1024 @30", "conv", (1, 1024, 30, 30), 1024),
    Case("upconv 1024->512 @28", "upconv", (1, 1024, 28, 28), 512),
    Case("upconv 512->256 @52", "upconv", (1, 512, 52, 52), 256),
    Case("upconv 256->128 @100", "upconv", (1, 256, 100, 100), 128),
    Case("upconv 128->64 @196", "upconv", (1, 128, 196, 196), 64),
    Case("max_pool2d k2 64 @568", "pool", (1, 64, 568, 568)),
    Case("max_pool2d k2 128 @280", "pool", (1, 128, 280, 280)),
    Case("max_pool2d k2 256 @136", "pool", (1, 256, 136, 136)),
    Case("max_pool2d k2 512 @64", "pool", (1, 512, 64, 64)),
    Case("batch_norm 64 @512", "bn", (1, 64, 512, 512)),
]
MODELS = [
    Case("paper U-Net 572 valid", "model", (1, 1, 572, 572), model="paper"),
    Case("milesial U-Net 3x512", "model", (1, 3, 512, 512), model="milesial"),
    Case("3-D U-Net 108^3 valid", "model", (1, 1, 108, 108, 108), model="unet3d"),
]
CASES = {case.name: case for case in LAYERS + MODELS}


def torch_module(case: Case):
    """The case as a torch module in eval mode (also what onnxruntime runs, exported)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    c = case.shape[1]
    if case.kind == "conv":
        return nn.Conv2d(c, case.out_channels, 3).eval()
    if case.kind == "upconv":
        return nn.ConvTranspose2d(c, case.out_channels, 2, 2).eval()
    if case.kind == "pool":
        return nn.MaxPool2d(2).eval()
    if case.kind == "bn":
        from torch_unets import randomise_norms

        return randomise_norms(nn.Sequential(nn.BatchNorm2d(c)))
    from torch_unets import ConvlabLayout, MilesialLayout, randomise_norms

    if case.model == "milesial":
        return randomise_norms(MilesialLayout(3, 2))
    return ConvlabLayout(_config(case)).eval()


def _config(case: Case):
    from convlab.models import UNetConfig

    if case.model == "unet3d":
        return UNetConfig(ndim=3, depth=3, width=16)
    return UNetConfig()


def convlab_call(case: Case, x: np.ndarray, algorithm: str, fold: bool = False):
    """The case as a convlab callable; ``algorithm`` 'winograd' runs convolutions by Winograd.

    ``fold`` runs a network through ``convlab.nn.fold_batch_norm`` first (the layers have none).
    """
    import convlab.functional as F

    rng = np.random.default_rng(0)
    c = case.shape[1]
    if case.kind == "conv":
        w = (rng.normal(size=(case.out_channels, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
        b = np.zeros(case.out_channels, np.float32)
        # What a model's forward runs under algorithm("winograd"): its per-layer rule and kernel cache.
        return lambda: F.conv2d(x, w, b, algorithm=algorithm)
    if case.kind == "upconv":
        w = (rng.normal(size=(c, case.out_channels, 2, 2)) / np.sqrt(4 * c)).astype(np.float32)
        b = np.zeros(case.out_channels, np.float32)
        return lambda: F.conv_transpose2d(x, w, b, stride=2)
    if case.kind == "pool":
        return lambda: F.max_pool2d(x, 2)
    if case.kind == "bn":
        mean, bias = (rng.normal(size=c).astype(np.float32) * 0.1 for _ in range(2))
        var, weight = (rng.random(c).astype(np.float32) + 0.5 for _ in range(2))
        return lambda: F.batch_norm(x, mean, var, weight, bias)
    return _convlab_model(case, x, algorithm, fold)


def _convlab_model(case: Case, x: np.ndarray, algorithm: str, fold: bool):
    import convlab.functional as F
    from convlab.models import MilesialUNet, UNet
    from convlab.nn import fold_batch_norm

    net = MilesialUNet(3, 2) if case.model == "milesial" else UNet(_config(case), seed=0)
    net = fold_batch_norm(net) if fold else net
    if algorithm == "gemm":
        return lambda: net(x)
    if not hasattr(F, "algorithm"):
        return None  # this checkout has no algorithm context yet: reported as n/a

    def call():
        with F.algorithm(algorithm):
            return net(x)

    return call
