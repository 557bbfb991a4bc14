"""Scenes to SVG text: a static sheet of every frame, no drawing library needed.

Each frame is a ``<g class="frame">``; each grid cell a ``<rect>`` with
``data-kind`` naming what it is (``data``, ``padding``, ``zero``, ...), so a
script can count or restyle cells. The sheet uses the same layout as the PNG.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from ._raster import SHEET_GAP, sheet_layout, sheet_size
from ._scene import HATCH, Group, Line, Rect, Scene, Text

# Widths are laid out for Pillow's bundled Aileron at 12 px; Arial at 11 px has about its advance.
FONT = "font-family:Aileron,Arial,Helvetica,sans-serif;font-size:11px"


def _rect(r: Rect) -> str:
    dash = ' stroke-dasharray="4 4"' if r.dashed else ""
    kind = f" data-kind={quoteattr(r.kind)} class='cell'" if r.kind else ""
    text = (
        f'<rect x="{r.x + 0.5}" y="{r.y + 0.5}" width="{r.w - 1}" height="{r.h - 1}" '
        f'fill="{r.fill or "none"}" '
        f'stroke="{r.outline}" stroke-width="{r.width}"{dash}{kind}/>'
    )
    if r.crossed:
        text += (
            f'<line x1="{r.x + 3}" y1="{r.y + r.h - 4}" x2="{r.x + r.w - 4}" y2="{r.y + 3}" '
            f'stroke="{HATCH}"/>'
        )
    return text


def _item(item) -> str:
    if isinstance(item, Group):
        inner = "".join(_item(it) for it in item.items)
        name = f' id="{item.name}"' if item.name else ""
        return f'<g class="step"{name} transform="translate({item.x},{item.y})">{inner}</g>'
    if isinstance(item, Rect):
        return _rect(item)
    if isinstance(item, Line):
        return (
            f'<line x1="{item.x0}" y1="{item.y0}" x2="{item.x1}" y2="{item.y1}" '
            f'stroke="{item.color}" stroke-width="{item.width}"/>'
        )
    return _text(item)


def _text(item: Text) -> str:
    anchor = ' text-anchor="middle" dominant-baseline="central"' if item.centered else ""
    baseline = "" if item.centered else ' dominant-baseline="hanging"'
    return f'<text x="{item.x}" y="{item.y}" fill="{item.color}"{anchor}{baseline}>{escape(item.text)}</text>'


def svg_text(scenes: list[Scene]) -> str:
    """All frames of ``scenes`` on one sheet, as a standalone SVG document."""
    cols, _, w, h = sheet_layout(scenes)
    width, height = sheet_size(scenes)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="{FONT}">',
        f'<rect width="{width}" height="{height}" fill="#d9d9d9"/>',
    ]
    for i, scene in enumerate(scenes):
        r, c = divmod(i, cols)
        x, y = c * (w + SHEET_GAP), r * (h + SHEET_GAP)
        out.append(f'<g class="frame" id="frame-{i}" transform="translate({x},{y})">')
        out.append(f'<rect width="{w}" height="{h}" fill="#ffffff"/>')
        out.extend(_item(item) for item in scene.items)
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
