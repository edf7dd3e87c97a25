"""Reads a PDF's drawing commands (pypdf's parsed content streams): which rectangles are filled in which colour, and
where text is drawn in which colour, so tests can check what a reader sees without rendering the page."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdf
from pypdf.generic import ContentStream


@dataclass
class Fill:
    x: float
    y: float
    w: float
    h: float
    colour: tuple[float, float, float]  # RGB in [0, 1]
    stroked: bool  # "B": filled and outlined (table cells); "f": filled only

    def contains(self, x: float, y: float) -> bool:
        x0, x1 = sorted((self.x, self.x + self.w))
        y0, y1 = sorted((self.y, self.y + self.h))
        return x0 <= x <= x1 and y0 <= y <= y1


@dataclass
class Text:
    x: float
    y: float
    colour: tuple[float, float, float]
    after: int  # how many fills were drawn before it on its page


def luminance(c) -> float:
    r, g, b = c
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _colour(op: bytes, args) -> tuple[float, float, float] | None:
    v = [float(a) for a in args]
    if op == b"g":
        return (v[0],) * 3
    if op == b"rg":
        return tuple(v[:3])
    if op == b"k":
        c, m, y, k = v
        return ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
    return None


def image_bottoms(page) -> list[float]:
    """The lower edge (points from the page's bottom) of every image drawn on the page."""
    out, matrix = [], None
    for args, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"cm":
            matrix = [float(a) for a in args]
        elif op == b"Do" and matrix is not None:
            out.append(matrix[5])
    return out


def page_drawing(page) -> tuple[list[Fill], list[Text]]:
    """The filled rectangles and text origins of one page, each with the non-stroking colour it was drawn in."""
    fills: list[Fill] = []
    texts: list[Text] = []
    colour = (0.0, 0.0, 0.0)
    stack = []
    path: list[tuple[float, float, float, float]] = []
    tx = ty = 0.0
    for args, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"q":
            stack.append(colour)
        elif op == b"Q":
            colour = stack.pop() if stack else colour
        elif op in (b"g", b"rg", b"k"):
            colour = _colour(op, args)
        elif op == b"re":
            path.append(tuple(float(a) for a in args))
        elif op in (b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*"):
            fills += [Fill(*r, colour, op in (b"B", b"B*", b"b", b"b*")) for r in path]
            path = []
        elif op in (b"S", b"s", b"n"):
            path = []
        elif op == b"BT":
            tx = ty = 0.0
        elif op == b"Td":
            tx, ty = tx + float(args[0]), ty + float(args[1])
        elif op == b"Tm":
            tx, ty = float(args[4]), float(args[5])
        elif op in (b"Tj", b"TJ", b"'", b'"'):
            texts.append(Text(tx, ty, colour, len(fills)))
    return fills, texts


def unreadable_cells(data: bytes, min_contrast: float = 0.5) -> list[str]:
    """Text drawn inside a table cell (a rectangle filled and outlined) whose colour is too close to the cell's fill:
    one line per such text, saying the page, the fill and the text colour."""
    out = []
    for n, page in enumerate(pypdf.PdfReader(io.BytesIO(data)).pages):
        fills, texts = page_drawing(page)
        for t in texts:
            under = [f for f in fills[: t.after] if f.stroked and f.contains(t.x + 0.5, t.y + 1.0)]
            if under and abs(luminance(under[-1].colour) - luminance(t.colour)) < min_contrast:
                out.append(f"page {n + 1}: text {t.colour} on fill {under[-1].colour} at ({t.x:.0f}, {t.y:.0f})")
    return out


def table_fills(data: bytes) -> list[tuple[float, float, float]]:
    """The colours of every table cell (filled and outlined rectangles) in the document."""
    return [f.colour for page in pypdf.PdfReader(io.BytesIO(data)).pages for f in page_drawing(page)[0] if f.stroked]
