"""Train the small U-Net that ``convlab demo`` ships, on synthetic cells, with PyTorch on the CPU.

    python scripts/train_demo_unet.py            # writes src/convlab/data/demo_unet.safetensors

The network is convlab's own layout (``convlab.models.UNet``) written in
torch with the same parameter names, so its state_dict loads into convlab
key for key: depth 2, width 8, unpadded 3x3 convolutions, transposed-conv
up-sampling, 2 classes (background, cell). Data: ``synthetic_cells`` images
of seeds 1000.. (the demo uses seed 0 and the tests 1 and 2, so no training
image is ever evaluated). Deterministic for one seed and torch version on
one machine; about four minutes on one core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from convlab.data import DEMO_CONFIG, synthetic_cells
from convlab.io import save_weights
from convlab.models import UNet

SEED = 20240611
PATCH = 124  # a valid input size at depth 2: 124 -> 84
OUT = Path(__file__).resolve().parents[1] / "src" / "convlab" / "data" / "demo_unet.safetensors"


class Level(nn.Module):
    """``conv{j}`` + ReLU pairs, named as convlab's ``Level``."""

    def __init__(self, c_in: int, c_out: int, convs: int, upconv: int | None = None):
        super().__init__()
        if upconv is not None:
            self.upconv = nn.ConvTranspose2d(upconv, c_in // 2, 2, stride=2)
        for j in range(1, convs + 1):
            setattr(self, f"conv{j}", nn.Conv2d(c_in if j == 1 else c_out, c_out, 3))
        self.convs = convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for j in range(1, self.convs + 1):
            x = torch.relu(getattr(self, f"conv{j}")(x))
        return x


class TorchUNet(nn.Module):
    """convlab's UNet layout (valid padding, transposed up-sampling, skip first) in torch."""

    def __init__(self, config):
        super().__init__()
        ch, k = config.channels, config.convs_per_level
        self.depth = config.depth
        for i in range(config.depth):
            setattr(self, f"down{i}", Level(ch[i - 1] if i else config.in_channels, ch[i], k))
        self.bottom = Level(ch[-2], ch[-1], k)
        for i in reversed(range(config.depth)):
            setattr(self, f"up{i}", Level(2 * ch[i], ch[i], k, upconv=ch[i + 1]))
        self.head = nn.Conv2d(ch[0], config.classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i in range(self.depth):
            x = getattr(self, f"down{i}")(x)
            skips.append(x)
            x = torch.max_pool2d(x, 2)
        x = self.bottom(x)
        for i in reversed(range(self.depth)):
            level = getattr(self, f"up{i}")
            x = level.upconv(x)
            skip = skips.pop()
            # The skip's centre; every difference is even at valid sizes, so
            # torchvision's rounding and plain halving agree.
            dy, dx = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
            x = level(torch.cat([skip, x], dim=1))
        return self.head(x)


def batches(rng: np.random.Generator, images, masks, batch: int, margin: int):
    """Random patches ``(x, y)``: inputs of PATCH pixels, labels of the output's centre."""
    out = PATCH - margin
    while True:
        xs, ys = [], []
        for _ in range(batch):
            k = rng.integers(len(images))
            r, c = rng.integers(0, images[k].shape[0] - PATCH, size=2)
            patch = images[k][r : r + PATCH, c : c + PATCH]
            label = masks[k][r + margin // 2 : r + margin // 2 + out, c + margin // 2 : c + margin // 2 + out]
            flip = rng.integers(4)
            xs.append(np.rot90(patch, flip))
            ys.append(np.rot90(label, flip))
        yield torch.from_numpy(np.stack(xs)[:, None].copy()), torch.from_numpy(np.stack(ys).astype(np.int64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    # One thread: on shared cores torch's OpenMP threads wait on each other
    # (measured 2 s per step with two under load, 0.2 s with one).
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    data = [synthetic_cells(512, seed=1000 + i) for i in range(12)]
    images, masks = [d[0] for d in data], [d[1] for d in data]
    margin = PATCH - DEMO_CONFIG.sizes(PATCH).output_size[0]
    net = TorchUNet(DEMO_CONFIG)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=args.steps)
    start = time.perf_counter()
    for step, (x, y) in zip(range(args.steps), batches(rng, images, masks, args.batch, margin)):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - start:6.1f} s", flush=True)
    state = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    check = UNet(DEMO_CONFIG)
    check.load_state_dict(state)
    x, _ = next(batches(rng, images, masks, 2, margin))
    diff = np.abs(check(x.numpy()) - net(x).detach().numpy()).max()
    print(f"convlab vs torch on a batch: max |difference| {diff:.2e}")
    save_weights(state, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) after {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
