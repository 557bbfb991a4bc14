"""Per-layer fixed-point formats: a default and overrides by layer name, from a dict or a JSON file.

Schema (JSON; every format is an HLS spelling ``"ap_fixed<W,I[,Q[,O[,N]]]>"``
or an object with :class:`FixedPoint`'s fields)::

    {
      "input":   "ap_fixed<16,6>",                        # the image's format
      "default": {"weight": "ap_fixed<16,6>",             # every field optional
                  "bias": "ap_fixed<16,6>",
                  "accumulator": null,                    # null: full precision
                  "output": "ap_fixed<16,6>"},
      "layers":  {"down0.conv1": {"output": "ap_fixed<12,4,AP_RND_CONV,AP_SAT>"},
                  "up0.merge":   {"output": "ap_fixed<12,5>"}}
    }

Layer names are those of the model's ``state_dict`` and trace
(``down{i}.conv{j}``, ``bottom.conv{j}``, ``up{i}.upconv``, ``up{i}.conv{j}``,
``head``) plus ``up{i}.merge`` for a decoder's concatenation. A layer's entry
overrides the default field by field. Without a ``default``, hls4ml's
``ap_fixed<16,6>`` is the default of every field but the accumulator.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._args import ConvlabError
from ._fixed import FixedPoint

__all__ = ["FormatTable", "LayerFormats"]

_HLS4ML_DEFAULT = FixedPoint(16, 10)
_FIELDS = ("weight", "bias", "accumulator", "output")


@dataclass(frozen=True)
class LayerFormats:
    """The formats of one layer: weight, bias, accumulator (None: full precision) and output.

    >>> LayerFormats().output
    FixedPoint(word_bits=16, frac_bits=10, signed=True, rounding='trn', overflow='wrap', saturation_bits=0)
    """

    weight: FixedPoint = _HLS4ML_DEFAULT
    bias: FixedPoint = _HLS4ML_DEFAULT
    accumulator: FixedPoint | None = None
    output: FixedPoint = _HLS4ML_DEFAULT

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, FixedPoint) or (name == "accumulator" and value is None)):
                raise TypeError(f"LayerFormats.{name} must be a FixedPoint, got {type(value).__name__}")

    def to_dict(self) -> dict[str, str | None]:
        return {name: None if getattr(self, name) is None else str(getattr(self, name)) for name in _FIELDS}


@dataclass(frozen=True)
class FormatTable:
    """Formats of a network: the input's, a default layer's and per-layer overrides (see the module).

    Examples
    --------
    >>> table = FormatTable.from_dict({"default": {"output": "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"},
    ...                                "layers": {"head": {"output": "ap_fixed<12,6>"}}})
    >>> str(table.for_layer("down0.conv1").output), str(table.for_layer("head").output)
    ('ap_fixed<8,3,AP_RND_CONV,AP_SAT>', 'ap_fixed<12,6>')
    """

    input: FixedPoint = _HLS4ML_DEFAULT
    default: LayerFormats = LayerFormats()
    layers: Mapping[str, LayerFormats] = field(default_factory=dict)

    def for_layer(self, name: str) -> LayerFormats:
        """The formats of layer ``name``: its entry, or the default."""
        return self.layers.get(name, self.default)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> FormatTable:
        """A table from the JSON schema of this module, already parsed (or with FixedPoint values)."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"spec must be a mapping, got {type(spec).__name__}")
        unknown = set(spec) - {"input", "default", "layers"}
        if unknown:
            raise ConvlabError(f"spec keys must be input, default, layers; got unknown {sorted(unknown)}")
        default = _layer(spec.get("default", {}), LayerFormats(), "default")
        layers = spec.get("layers", {})
        if not isinstance(layers, Mapping):
            raise TypeError(f"spec['layers'] must be a mapping of layer names, got {type(layers).__name__}")
        table = {str(k): _layer(v, default, f"layers[{k!r}]") for k, v in layers.items()}
        return cls(_format(spec.get("input", str(default.output)), "input"), default, table)

    @classmethod
    def from_json(cls, path: str | Path) -> FormatTable:
        """Read a table written in the JSON schema of this module."""
        try:
            spec = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise ConvlabError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(spec)

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema's dict (formats as HLS spellings); ``from_dict`` reads it back."""
        return {
            "input": str(self.input),
            "default": self.default.to_dict(),
            "layers": {name: formats.to_dict() for name, formats in self.layers.items()},
        }

    def check_names(self, names: list[str]) -> None:
        """Refuse layer entries that name no layer of ``names`` (a typo would silently use the default)."""
        unknown = sorted(set(self.layers) - set(names))
        if unknown:
            raise ConvlabError(f"format table names unknown layers {unknown}; the layers are {names}")


def _format(value: Any, where: str) -> FixedPoint:
    if isinstance(value, FixedPoint):
        return value
    if isinstance(value, str):
        return FixedPoint.from_hls(value)
    if isinstance(value, Mapping):
        try:
            return FixedPoint(**value)
        except TypeError as error:
            raise ConvlabError(f"{where}: {error}") from None
    raise TypeError(f"{where} must be an HLS spelling, a mapping or a FixedPoint, got {type(value).__name__}")


def _layer(value: Any, base: LayerFormats, where: str) -> LayerFormats:
    if isinstance(value, LayerFormats):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping of {', '.join(_FIELDS)}, got {type(value).__name__}")
    unknown = set(value) - set(_FIELDS)
    if unknown:
        raise ConvlabError(f"{where} keys must be among {', '.join(_FIELDS)}; got unknown {sorted(unknown)}")
    fields = {
        k: None if v is None and k == "accumulator" else _format(v, f"{where}[{k!r}]")
        for k, v in value.items()
    }
    return dataclasses.replace(base, **fields)
