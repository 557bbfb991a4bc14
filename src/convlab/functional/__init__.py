"""The fast operators: N-d convolution family on NumPy, equal to torch.nn.functional."""

from ._pad import pad

__all__: list[str] = [
    "pad",
]
