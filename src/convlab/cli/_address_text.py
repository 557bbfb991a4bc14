"""Address ranges as text and JSON for `addresses`, `unet --addresses` and `explain crop --addresses`.

Kept apart from the command modules so that ``unet`` and ``explain`` can use
it without importing ``convlab vectors``' module (which imports ``unet``'s options).
"""

from __future__ import annotations

import argparse

__all__ = [
    "crop_address_line",
    "crop_addresses",
    "crop_range",
    "range_text",
    "skip_address_lines",
    "skip_addresses",
]


def crop_range(shape: tuple[int, ...], crop, layout: str | None) -> dict | None:
    from ..shapes import center_crop_box
    from ..vectors import crop_ranges

    box = center_crop_box(shape[2:], crop)
    if box.padded:
        return None  # the crop reads padding: no single range of the input
    r = crop_ranges(shape, box, layout)
    return {"start": r.start, "run": r.run, "loops": [list(loop) for loop in r.loops]}


def range_text(r: dict) -> str:
    loops = " x ".join(f"{n} @ +{s}" for n, s in r["loops"]) or "once"
    return f"words from {r['start']}, runs of {r['run']}, repeated {loops}"


def skip_addresses(config, spatial: tuple[int, ...], layout: str | None) -> list[dict]:
    """The skip windows of a U-Net configuration as JSON-ready dicts (``convlab unet --addresses`` too)."""
    from ..vectors import skip_windows

    windows = skip_windows(config, (1, config.in_channels, *spatial), layout)
    for w in windows:
        if "range" in w:
            r = w.pop("range")
            w["range"] = {"start": r.start, "run": r.run, "loops": [list(loop) for loop in r.loops]}
    return windows


def skip_address_lines(windows: list[dict], layout: str | None) -> list[str]:
    lines = []
    for w in windows:
        if "range" in w:
            corners = f"pixels {tuple(w['start'])}..{tuple(w['last'])}"
            where = f"crop {corners} -> {range_text(w['range'])} ({layout or 'NCHW'})"
        else:
            where = f"not cropped; the up-sampled features are padded by {w['pad_up']}"
        lines.append(f"{w['merge']}: skip {w['skip_shape']} {where}")
    return lines


def crop_addresses(args: argparse.Namespace) -> dict | None:
    """``explain crop --addresses``: the crop of a ``(1, channels, *size)`` image as one address range.

    The grammar (cli/_parse) has refused ``--addresses`` on other operators and
    made ``size`` and ``crop`` per-dimension tuples.
    """
    return crop_range((1, args.channels, *args.size), args.crop, args.addresses)


def crop_address_line(span: dict | None, layout: str | None) -> str:
    if span is None:
        return "addresses: the crop is larger than the image, it reads padding: no single range"
    return f"addresses ({layout or 'NCHW'}, one value per word): {range_text(span)}"
