"""``Module``: named children, NumPy parameters and buffers, PyTorch's state_dict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .._args import ConvlabError
from ..functional._policy import float_dtype
from ._trace import Trace, check_shape, trace_into

__all__ = ["Buffer", "IncompatibleKeys", "Module", "Parameter", "StateDictError", "as_numpy"]


class Parameter:
    """Marks an array as a parameter of the module it is assigned to, as ``torch.nn.Parameter``.

    The module stores the plain ``numpy.ndarray``; reading the attribute back
    gives that array, not this marker.
    """

    __slots__ = ("data",)

    def __init__(self, data: ArrayLike):
        self.data = np.asarray(data)


class Buffer(Parameter):
    """Marks an array as a buffer (state, not learned), as ``torch.nn.Buffer``."""

    __slots__ = ()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match, as torch returns it."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class StateDictError(ConvlabError):
    """A state_dict that does not fit the module.

    Attributes ``missing_keys``, ``unexpected_keys`` (lists of names) and
    ``mismatched`` (``(key, layer, expected_shape, found_shape)`` tuples).
    """

    def __init__(self, message: str, missing: list[str], unexpected: list[str], mismatched: list[tuple]):
        super().__init__(message)
        self.missing_keys, self.unexpected_keys, self.mismatched = missing, unexpected, mismatched


def as_numpy(value: object, name: str = "value") -> np.ndarray:
    """A NumPy array from an array-like or a (CPU) torch tensor, without importing torch."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()  # type: ignore[union-attr]
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array, got {type(value).__name__}: {err}") from None


class Module:
    """Base of every layer and network: PyTorch's ``nn.Module`` for inference on NumPy.

    Assigning a ``Module`` to an attribute registers it as a child, a
    :class:`Parameter` or :class:`Buffer` registers its array; assigning a
    plain array to a registered name replaces the array. ``state_dict`` and
    ``load_state_dict`` use PyTorch's dotted names, so torch checkpoints of
    the same architecture load as they are.

    Examples
    --------
    >>> class Affine(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = Parameter(np.ones(2))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> outer = Module()
    >>> outer.inner = Affine()
    >>> list(outer.state_dict()), outer.num_parameters
    (['inner.scale'], 2)
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        stores = (self._parameters, self._buffers, self._modules)
        if isinstance(value, (Module, Parameter)):
            for store in stores:
                store.pop(name, None)
            self.__dict__.pop(name, None)
            if isinstance(value, Module):
                self._modules[name] = value
            else:
                (self._buffers if isinstance(value, Buffer) else self._parameters)[name] = value.data
        elif name in self._parameters or name in self._buffers:
            store = self._parameters if name in self._parameters else self._buffers
            if value is None:  # torch's way to drop a parameter, e.g. ``conv.bias = None``
                del store[name]
                object.__setattr__(self, name, None)
            else:
                store[name] = as_numpy(value, name)
        elif name in self._modules and value is None:
            self._modules[name] = None  # type: ignore[assignment]
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered names live in the stores.
        for store in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(store, {})
            if name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, child)`` in registration order."""
        yield from ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        yield from (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and every descendant, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        yield from (m for _, m in self.named_modules())

    def _named_arrays(self, kind: str) -> Iterator[tuple[str, np.ndarray]]:
        for path, module in self.named_modules():
            for name, array in getattr(module, kind).items():
                yield (f"{path}.{name}" if path else name), array

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(dotted name, array)`` of every parameter, as torch's ``named_parameters``."""
        yield from self._named_arrays("_parameters")

    def parameters(self) -> Iterator[np.ndarray]:
        yield from (a for _, a in self.named_parameters())

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        yield from self._named_arrays("_buffers")

    @property
    def num_parameters(self) -> int:
        """The number of parameter values (buffers such as running statistics not counted)."""
        return sum(a.size for a in self.parameters())

    @property
    def dtype(self) -> np.dtype:
        """The floating dtype of the parameters (float32 if there are none)."""
        return next((a.dtype for a in self.parameters() if a.dtype.kind == "f"), np.dtype(np.float32))

    def to(self, dtype: DTypeLike) -> Module:
        """Cast every floating parameter and buffer to float32 or float64, in place; returns self.

        Integer buffers (BatchNorm's ``num_batches_tracked``) keep their dtype.
        """
        target = float_dtype(dtype)
        for module in self.modules():
            for store in (module._parameters, module._buffers):
                for name, array in store.items():
                    if array.dtype.kind == "f":
                        store[name] = array.astype(target, copy=False)
        return self

    astype = to

    def eval(self) -> Module:
        """No-op returning self: convlab modules always compute in inference mode."""
        return self

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Every parameter and buffer by dotted name, in torch's order (own arrays, then children).

        The arrays are the module's own, not copies, as torch's ``state_dict`` shares storage.
        """
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for path, module in self.named_modules():
            for store in (module._parameters, module._buffers):
                for name, array in store.items():
                    out[f"{path}.{name}" if path else name] = array
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or torch tensors) into the parameters and buffers, by dotted name.

        Values are cast to the dtype of the array they replace.

        Parameters
        ----------
        state_dict : mapping of str to array_like
        strict : bool, default True
            If True, any missing or unexpected key is an error that lists
            them all; if False they are returned.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``, both empty when strict.

        Raises
        ------
        StateDictError
            On a shape mismatch (always; the message names the layer, the key,
            the expected and the found shape), and with ``strict`` on missing
            or unexpected keys.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}"
            )
        targets = dict(self._targets())
        given = {str(k): as_numpy(v, f"state_dict[{k!r}]") for k, v in state_dict.items()}
        missing = [k for k in targets if k not in given]
        unexpected = [k for k in given if k not in targets]
        mismatched = []
        for key, (path, module, store, name) in targets.items():
            if key in given and store[name].shape != given[key].shape:
                layer = f"{path or '<root>'} ({type(module).__name__})"
                mismatched.append((key, layer, store[name].shape, given[key].shape))
        if mismatched or (strict and (missing or unexpected)):
            message = _load_message(type(self).__name__, missing if strict else [], unexpected, mismatched)
            raise StateDictError(message, missing, unexpected, mismatched)
        for key, (_, _, store, name) in targets.items():
            if key in given:
                store[name] = given[key].astype(store[name].dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    def _targets(self) -> Iterator[tuple[str, tuple[str, Module, dict, str]]]:
        for path, module in self.named_modules():
            for store in (module._parameters, module._buffers):
                for name in store:
                    yield (f"{path}.{name}" if path else name), (path, module, store, name)

    def trace(self, input_shape: tuple[int, ...]) -> Trace:
        """Per layer: name, output shape, parameters, FLOPs, activation bytes; no arrays computed.

        Sizes come from :mod:`convlab.shapes`; activation bytes use :attr:`dtype`.

        >>> from convlab.nn import Conv2d
        >>> row = Conv2d(1, 8, 3, dtype="float64").trace((2, 1, 572, 572))[0]
        >>> row.output_shape, row.parameters, row.flops, row.activation_bytes
        ((2, 8, 570, 570), 80, 93571200, 41587200)
        """
        rows = Trace()
        trace_into(self, "", check_shape(input_shape), rows, self.dtype.itemsize)
        return rows

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for ``input_shape``, from :meth:`trace` (nothing is computed).

        Layers override it with their size formula; a container's is its last layer's.
        """
        return self.trace(input_shape)[-1].output_shape

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n  " + "\n  ".join(lines) + "\n)" if lines else ")")


def _load_message(owner: str, missing: list, unexpected: list, mismatched: list) -> str:
    parts = [f"Error(s) in loading state_dict for {owner}:"]
    if missing:
        parts.append(f"missing keys ({len(missing)}): " + ", ".join(missing))
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
    parts.extend(
        f"size mismatch for {key} in layer {layer}: expected shape {tuple(want)}, found {tuple(got)}"
        for key, layer, want, got in mismatched
    )
    return "\n  ".join(parts)
