"""The fast operators: N-d convolution family on NumPy, equal to torch.nn.functional."""

__all__: list[str] = []
