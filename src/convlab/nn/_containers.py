"""``Sequential`` and ``ModuleList``: children named ``"0"``, ``"1"``, ... as in torch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from ._chain import run_chain
from ._module import Module

__all__ = ["ModuleList", "Sequential"]


def _checked(module: object, owner: str, index: int | str) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{owner} takes convlab.nn.Module children, got {type(module).__name__} at {index!r}")
    return module


class Sequential(Module):
    """Children called in order, as ``torch.nn.Sequential``; state_dict keys ``"0.weight"``, ...

    Takes modules positionally, or one ``OrderedDict`` of named modules.

    >>> from convlab.nn import Conv2d, ReLU
    >>> list(Sequential(Conv2d(1, 2, 3), ReLU(), Conv2d(2, 2, 3)).state_dict())
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named: Iterable[tuple[str, Any]] = modules[0].items()
        else:
            named = ((str(i), m) for i, m in enumerate(modules))
        for name, module in named:
            setattr(self, name, _checked(module, "Sequential", name))

    def forward(self, input: Any) -> Any:
        # A convolution followed by a ReLU or BatchNorm runs fused (bit for bit the same).
        return run_chain(self.children(), input)

    def __getitem__(self, index: int) -> Module:
        return list(self.children())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return self.children()


class ModuleList(Module):
    """A list of children, as ``torch.nn.ModuleList``; it has no forward of its own.

    >>> from convlab.nn import ReLU
    >>> layers = ModuleList([ReLU()])
    >>> layers.append(ReLU())
    >>> [name for name, _ in layers.named_children()]
    ['0', '1']
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        self.extend(modules or ())

    def append(self, module: Module) -> None:
        setattr(self, str(len(self)), _checked(module, "ModuleList", len(self)))

    def extend(self, modules: Iterable[Module]) -> None:
        for module in modules:
            self.append(module)

    def __getitem__(self, index: int) -> Module:
        return list(self.children())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return self.children()
