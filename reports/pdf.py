"""A report laid out for print (fpdf2): figures as PNG images or vector bars, tables as tables.

Text is set in DejaVu Sans (shipped with matplotlib, a dependency of captum) so that
non-Latin texts print; without it the core Helvetica font is used and characters
outside Latin-1 print as '?'. DejaVu has no Chinese, Japanese or Korean glyphs: where
Debian's fonts-droid-fallback and fonts-nanum are installed (``make test`` installs them),
their fonts are the fallback for them; without them such characters print blank.
HarfBuzz (uharfbuzz) shapes the text, so Arabic letters join and right-to-left runs read
in order.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from fpdf import FPDF, FontFace
from fpdf.enums import ResourceAccessPolicy, TableCellFillMode

from models.units import duration
from reports.describe import heading, is_craft, target_text
from reports.figures import renderer
from reports.figures import colour_scales
from reports.figures.base import thumbnail_png
from reports.figures.cells import bar_legend
from reports.figures.colour_scales import tint
from reports.figures.token_highlight import MAX_ALPHA
from reports.figures.waterfall import short_label
from reports.report import Agreement, Report, ReportItem
from reports.views import views

# Nanum carries hinting-source tables (TSI*) that the subsetter drops, saying so on every export
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

FONT = "DejaVu"
FALLBACK_FONTS = {  # Debian's fonts for what DejaVu lacks; ``make test`` installs both packages
    "DroidFallback": Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),  # Chinese, Japanese
    "NanumGothic": Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),  # Korean
}
TEXT_SIZE = 9
MAX_TOKENS_DRAWN = 400  # longer texts: the highlight is cut, the ranked bars still cover them
MAX_MATRIX_DRAWN = 60   # generation matrices up to this side are drawn as labelled cells, larger ones as a PNG
TABLE_FILL = (255, 255, 255)  # every table cell is filled explicitly: white, dark text
TABLE_HEAD_FILL = (236, 238, 242)  # header cells: light grey
TABLE_TEXT = (0, 0, 0)
TABLE_LINES = (150, 150, 150)
HEADING_H = 7.0  # mm a figure's heading takes: it moves to the next page with its figure


def dejavu_fonts() -> dict[str, Path] | None:
    """Paths of DejaVu Sans regular and bold from matplotlib's data, without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    ttf = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"
    fonts = {"": ttf / "DejaVuSans.ttf", "B": ttf / "DejaVuSans-Bold.ttf"}
    return fonts if all(p.is_file() for p in fonts.values()) else None


def fallback_fonts() -> dict[str, Path]:
    """The fonts of FALLBACK_FONTS installed on this system."""
    return {name: path for name, path in FALLBACK_FONTS.items() if path.is_file()}


class _Doc(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.report_title = title
        fonts = dejavu_fonts()
        if fonts:
            for style, path in fonts.items():
                self.add_font(FONT, style, str(path))
            self.family = FONT
            self.set_text_shaping(True)  # HarfBuzz: Arabic letters joined, right-to-left runs in reading order
            fallback = fallback_fonts()
            for name, path in fallback.items():
                self.add_font(name, "", str(path))
            if fallback:
                self.set_fallback_fonts(list(fallback), exact_match=False)  # no bold faces: bold falls back too
        else:
            self.family = "Helvetica"
        self.resource_access_policy = ResourceAccessPolicy.NONE  # images come from memory only
        self.set_auto_page_break(True, margin=15)
        self.set_title(self.clean(title))
        self.set_creator("Lumen")

    def clean(self, text) -> str:
        text = str(text)
        if self.family != FONT:  # no shaping either: bidi isolates would print as '?'
            return text.replace("\u2068", "").replace("\u2069", "").encode("latin-1", "replace").decode("latin-1")
        return text

    def font(self, size=TEXT_SIZE, bold=False):
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self):
        self.set_y(-12)
        self.font(7)
        self.set_text_color(120)
        self.cell(0, 5, self.clean(f"{self.report_title} — page {self.page_no()}"), align="C")
        self.set_text_color(0)

    def reset_colours(self):
        """Black text, white fills, grey lines: what every table and paragraph starts from, whatever a figure set."""
        self.set_fill_color(*TABLE_FILL)
        self.set_text_color(*TABLE_TEXT)
        self.set_draw_color(*TABLE_LINES)

    def heading(self, text, size=11):
        self.set_text_color(*TABLE_TEXT)
        self.font(size, bold=True)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)
        self.font()

    def paragraph(self, text, size=TEXT_SIZE):
        self.font(size)
        self.multi_cell(0, size * 0.45, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def table_rows(self, title, rows, header=None, widths=(0.35, 0.65)):
        """A titled table, its cells filled explicitly (white, the header light grey) with black text, so no colour
        a figure set before can show through; the title stays on the page of the table's first rows."""
        self.need(HEADING_H + 4.6 * min(len(rows) + bool(header), 3) + 2)
        self.heading(title, 9.5)
        if not rows:
            self.paragraph("none")
            return
        self.reset_colours()
        self.font(8)
        body = ([list(header)] if header else []) + [[self.clean(c) for c in row] for row in rows]
        n = len(body[0])
        with self.table(col_widths=widths if n == len(widths) else None, first_row_as_headings=bool(header),
                        text_align="LEFT", line_height=4, padding=0.8, wrapmode="CHAR",
                        cell_fill_color=TABLE_FILL, cell_fill_mode=TableCellFillMode.ALL,
                        headings_style=FontFace(emphasis="BOLD", color=TABLE_TEXT, fill_color=TABLE_HEAD_FILL)
                        ) as table:
            for row in body:
                cells = table.row()
                for c in row:
                    cells.cell(str(c))
        self.ln(2)
        self.font()

    def need(self, height: float):
        """A new page unless ``height`` mm fit below (a heading stays with its figure)."""
        if self.get_y() + min(height, self.page_break_trigger - self.t_margin) > self.page_break_trigger:
            self.add_page()

    @staticmethod
    def _scale(data: bytes, max_w: float, max_h: float) -> tuple[float, float, float]:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
        return w, h, min(max_w / w, max_h / h)

    def png_height(self, data: bytes, max_w: float, max_h: float) -> float:
        w, h, scale = self._scale(data, max_w, max_h)
        return h * scale

    def png(self, data: bytes, max_w: float, max_h: float = 120):
        """Place PNG bytes at the left margin, scaled to fit ``max_w`` × ``max_h`` mm."""
        w, h, scale = self._scale(data, max_w, max_h)
        if self.get_y() + h * scale > self.page_break_trigger:
            self.add_page()
        self.image(io.BytesIO(data), x=self.l_margin, w=w * scale, h=h * scale)
        self.ln(2)


def to_pdf(report: Report) -> bytes:
    """The whole report as PDF bytes."""
    pdf = _Doc(report.title)
    pdf.add_page()
    pdf.heading(report.title, 16)
    pdf.paragraph(f"{len(report.items)} explanation(s)"
                  + (f", {len(report.views)} dataset view(s)" if report.views else "") + ". Made with Lumen.")
    for i, item in enumerate(report.items):
        pdf.paragraph(f"{i + 1}. {_heading(item)}")
    for view in report.views:
        pdf.paragraph(f"Dataset view: {view.title}")
    for i, item in enumerate(report.items):
        pdf.add_page()
        _item(pdf, i, item)
    agreements = report.agreements()
    if agreements:
        pdf.add_page()
        pdf.reset_colours()
        pdf.heading("Agreement between explainers", 13)
        pdf.paragraph("Explainers often disagree; disagreement is information about the explanations, not an error.")
        for agreement, owners in agreements:
            _agreement(pdf, agreement, owners)
    if report.views:
        pdf.add_page()
        pdf.reset_colours()
        pdf.heading("Datasets", 13)
        for view in report.views:
            _dataset_view(pdf, view)
    pdf.add_page()
    pdf.reset_colours()
    _environment(pdf, report.environment)
    return bytes(pdf.output())


def _dataset_view(pdf: _Doc, view):
    """A dataset view: its bars drawn as vectors, a mean-map grid or a distribution as its PNG."""
    if view.source:
        pdf.paragraph(view.source, 8)
    data = view.prepared()
    if view.kind == "ranked_bars":
        _bars(pdf, SimpleNamespace(title=view.title, data=data))
    else:
        _png(pdf, view.title, renderer(view.kind).png(data), max_h=200)
    pdf.reset_colours()


def _heading(item: ReportItem) -> str:
    return heading(item.explanation)


def _value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)


def _item(pdf: _Doc, i: int, item: ReportItem):
    ex = item.explanation
    pdf.reset_colours()
    pdf.heading(f"{i + 1}. {_heading(item)}", 13)
    _input(pdf, item)
    pdf.table_rows("Model", [("name", item.model.name), ("source", item.model.source),
                             (f"SHA-256 ({item.model.sha256_of or 'not available'})", item.model.sha256 or "—")])
    pdf.table_rows("Prediction", [(r + 1, label, "" if idx is None else idx, f"{p:.2%}")
                                  for r, (idx, label, p) in enumerate(item.prediction)],
                   header=("rank", "class", "index", "probability"), widths=(0.1, 0.5, 0.15, 0.25))
    pdf.table_rows("Explanation", [("method", ex.method), ("modality", ex.modality), ("model", ex.model),
                                   ("target", target_text(ex)),
                                   ("runtime", duration(ex.runtime_s)), ("forward passes", ex.n_forward),
                                   ("backward passes", ex.n_backward), ("device", ex.device)]
                   + ([("base value", ex.base_value)] if ex.base_value is not None else []))
    pdf.table_rows("Parameters", [(k, _value(v)) for k, v in ex.params.items()])
    pdf.table_rows("Metrics", [(k, f"{v:.6g}") for k, v in item.metrics.items()])
    _views(pdf, item)


def _input(pdf: _Doc, item: ReportItem):
    kind = item.input_kind
    name_h = 5.0 if item.input_name else 0.0
    if kind in ("image", "images"):  # the heading stays with the image
        first, size = (item.input, 80) if kind == "image" else (item.input[0], 50)
        thumb = thumbnail_png(first, 256) if kind == "images" else thumbnail_png(first)
        pdf.need(HEADING_H + name_h + (5 if kind == "images" else 0) + pdf.png_height(thumb, size, min(size, 70)))
    else:
        pdf.need(HEADING_H + name_h + 10)
    pdf.heading("Input", 9.5)
    if item.input_name:
        pdf.paragraph(("" if kind == "row" else "file: ") + item.input_name, 8)
    if kind == "image":
        pdf.png(thumb, max_w=80, max_h=70)
    elif kind == "images":
        pdf.paragraph(f"{len(item.input)} images; the first:", 8)
        pdf.png(thumb, max_w=50, max_h=50)
    elif kind == "text":
        pdf.paragraph(item.input)
    else:
        pdf.table_rows("Row", [(k, _value(v)) for k, v in item.input.items()], header=("feature", "value"))


def _views(pdf: _Doc, item: ReportItem):
    for view in views(item):
        draw = _DRAW.get(view.kind)
        if draw is not None:
            draw(pdf, view)
        else:  # every other kind prints as its PNG
            _png(pdf, view.title, renderer(view.kind).png(view.data), max_h=200)
        pdf.reset_colours()  # a figure's colours never reach what follows it
    ex = item.explanation
    lens = ex.extras.get("metrics") if is_craft(ex) else None
    if isinstance(lens, dict):
        pdf.table_rows("Concept metrics (Lens)", [(k, _value(v)) for k, v in lens.items()])


def _png(pdf: _Doc, title: str, data: bytes, max_h: float = 110):
    pdf.need(HEADING_H + min(max_h, pdf.png_height(data, pdf.epw, max_h)))
    pdf.heading(title, 9.5)
    pdf.png(data, max_w=pdf.epw, max_h=max_h)


def _overlay(pdf: _Doc, view):
    _png(pdf, view.title, renderer("image_overlay").png(view.data))


def _tokens(pdf: _Doc, view):
    """The highlight's cells, each filled with the colour it shows on the page (on white)."""
    cells = view.data.cells
    pdf.need(HEADING_H + 12)
    pdf.heading(view.title, 9.5)
    pdf.font(8)
    h = 5
    right = pdf.w - pdf.r_margin
    for piece in cells[:MAX_TOKENS_DRAWN]:
        text = pdf.clean(piece.shown.strip() or piece.label)
        w = pdf.get_string_width(text) + 1.5
        if pdf.get_x() + w > right:
            pdf.ln(h + 1)
        if piece.kind == "special":
            pdf.set_text_color(136)
            pdf.cell(w, h, text)
            pdf.set_text_color(0)
        else:
            pdf.set_fill_color(*piece.fill)
            pdf.cell(w, h, text, fill=True)
        pdf.set_x(pdf.get_x() + 0.8)
    pdf.ln(h + 3)
    if len(cells) > MAX_TOKENS_DRAWN:
        pdf.paragraph(f"(first {MAX_TOKENS_DRAWN} of {len(cells)} tokens shown)", 7)
    if view.data.unread:
        pdf.paragraph(f"({view.data.unread.replace(' (greyed)', '')}.)", 7)
    key = view.data.key
    if key is not None:  # the legend: a swatch of each colour as the cells show it, then the words
        pdf.font(7)
        for colour, words in key.swatches:
            pdf.set_fill_color(*tint(colour, MAX_ALPHA))
            pdf.cell(4, 3.5, "", fill=True)
            text = pdf.clean(words)
            pdf.cell(pdf.get_string_width(text) + 3, 3.5, " " + text)
        pdf.ln(4)
        pdf.paragraph(f"{key.title}; {key.strength}.", 7)
    pdf.font()


def _bars(pdf: _Doc, view, label_w=55.0, row_h=4.5):
    """The ranked bars' rows (label, value, colour) as horizontal bars from a zero line, first on top."""
    rows = view.data.rows
    pdf.need(HEADING_H + row_h * len(rows) + 3)  # the whole chart on one page (split only when taller than a page)
    pdf.heading(view.title, 9.5)
    if not rows:
        return
    pdf.font(7.5)
    top = max(abs(r.value) for r in rows) or 1.0
    negative = any(r.value < 0 for r in rows)
    span = pdf.epw - label_w - 18
    zero = pdf.l_margin + label_w + (span / 2 if negative else 0)
    scale = (span / 2 if negative else span) / top
    line_from = pdf.get_y()
    for r in rows:
        if pdf.get_y() + row_h > pdf.page_break_trigger:
            pdf.set_draw_color(80)
            pdf.line(zero, line_from, zero, pdf.get_y())
            pdf.add_page()
            line_from = pdf.get_y()
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_w - 2, row_h, pdf.clean(_shorten(r.label, 40)), align="R")
        pdf.set_fill_color(*r.colour)
        x0, w = (zero, r.value * scale) if r.value >= 0 else (zero + r.value * scale, -r.value * scale)
        pdf.rect(x0, y + 0.6, max(w, 0.2), row_h - 1.2, style="F")
        pdf.set_xy(pdf.l_margin + label_w + span + 1, y)
        pdf.cell(17, row_h, f"{r.value:.3g}")
        pdf.set_y(y + row_h)
    pdf.set_draw_color(80)
    pdf.line(zero, line_from, zero, pdf.get_y())
    pdf.ln(3)
    pdf.font()


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _matrix(pdf: _Doc, view):
    d = view.data
    rows, cols = d.values.shape
    if max(rows, cols) > MAX_MATRIX_DRAWN:
        _png(pdf, view.title, renderer(view.kind).png(d), max_h=180)
        return
    _cells(pdf, view.title, d)


def _cells(pdf: _Doc, title: str, d, label_w: float = 28.0, top_h: float = 22.0):
    """The prepared cells as filled squares, labelled, with each value printed in it when ``d.numbers``."""
    rows, cols = d.values.shape
    cell = min(8.0 if not d.numbers else 14.0, (pdf.epw - label_w) / cols, 160.0 / rows)
    pdf.need(HEADING_H + top_h + cell * rows + 3 + COLOUR_BAR_H)
    pdf.heading(title, 9.5)
    x0, y0 = pdf.l_margin + label_w, pdf.get_y() + top_h
    grid = d.rgb
    pdf.font(min(7.0, cell * 2.2))
    for j, token in enumerate(d.col_labels):  # column labels, written upwards
        with pdf.rotation(90, x0 + (j + 0.7) * cell, y0 - 1):
            pdf.text(x0 + (j + 0.7) * cell, y0 - 1, pdf.clean(_shorten(token, 16)))
    for i, token in enumerate(d.row_labels):
        pdf.set_xy(pdf.l_margin, y0 + i * cell)
        pdf.cell(label_w - 1, cell, pdf.clean(_shorten(token, 16)), align="R")
        for j in range(cols):
            colour = tuple(int(c) for c in grid[i, j])
            pdf.set_fill_color(*colour)
            pdf.rect(x0 + j * cell, y0 + i * cell, cell, cell, style="F")
            if d.numbers:
                pdf.set_text_color(255 if sum(colour) < 380 else 0)
                pdf.set_font_size(min(6.5, cell * 1.3))
                pdf.text(x0 + j * cell + 0.6, y0 + (i + 0.62) * cell, f"{d.raw[i, j]:.2f}")
                pdf.set_text_color(0)
    pdf.set_y(y0 + rows * cell + 3)
    _colour_bar(pdf, d)
    pdf.font()


COLOUR_BAR_H = 17.0  # mm: the colour bar under a matrix, with its title, ticks and clipping


def _colour_bar(pdf: _Doc, d, width: float = 70.0, bar_h: float = 3.2, steps: int = 64):
    """The matrix's colour bar as vector strips, drawn as the Plotly colour bar and the PNGs' panel: its title,
    what the colours mean, the ramp from ``d.lo`` to ``d.hi`` with its ticks, and how the scores were clipped."""
    lg = bar_legend(d)
    pdf.reset_colours()
    pdf.font(7, bold=True)
    pdf.cell(0, 3.5, pdf.clean(lg.title), new_x="LMARGIN", new_y="NEXT")
    pdf.font(6.5)
    pdf.cell(0, 3.2, pdf.clean(lg.meaning), new_x="LMARGIN", new_y="NEXT")
    x0, y = pdf.l_margin, pdf.get_y() + 0.5
    ramp = colour_scales.apply(np.linspace(d.lo, d.hi, steps)[None, :], d.scale, d.lo, d.hi)[0]
    w = width / steps
    for k, colour in enumerate(ramp):
        pdf.set_fill_color(*(int(c) for c in colour))
        pdf.rect(x0 + k * w, y, w + 0.05, bar_h, style="F")
    pdf.reset_colours()
    pdf.set_draw_color(120)
    pdf.rect(x0, y, width, bar_h, style="D")
    for value, text in lg.ticks:
        x = x0 + (value - d.lo) / ((d.hi - d.lo) or 1.0) * width
        pdf.line(x, y + bar_h, x, y + bar_h + 0.8)
        tw = pdf.get_string_width(pdf.clean(text))
        pdf.text(min(max(x0, x - tw / 2), x0 + width - tw), y + bar_h + 3.3, pdf.clean(text))
    pdf.set_y(y + bar_h + 4.5)
    clipping = f"{lg.clipping} ({lg.beyond})" if lg.beyond else lg.clipping
    pdf.cell(0, 3.2, pdf.clean(clipping), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.reset_colours()


def _waterfall(pdf: _Doc, view, label_w=55.0, row_h=4.5):
    """The waterfall's steps as floating bars: each from where the last ended, totals from zero."""
    steps = view.data.steps
    pdf.need(HEADING_H + row_h * len(steps) + 3)
    pdf.heading(view.title, 9.5)
    pdf.font(7.5)
    # the labels ("bill_length_mm = 49.5") get the width of the longest, up to 45 % of the page, never cut mid-cell
    label_w = min(max(label_w, 3 + max(pdf.get_string_width(pdf.clean(s.label)) for s in steps)), 0.45 * pdf.epw)
    lo = min(0.0, *(min(s.start, s.end) for s in steps))
    hi = max(0.0, *(max(s.start, s.end) for s in steps))
    span = pdf.epw - label_w - 18
    scale = span / ((hi - lo) or 1.0)
    x = lambda v: pdf.l_margin + label_w + (v - lo) * scale  # noqa: E731
    top = pdf.get_y()
    for s in steps:
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        text = pdf.clean(short_label(s.label, lambda t: pdf.get_string_width(pdf.clean(t)) <= label_w - 3))
        pdf.cell(label_w - 2, row_h, text, align="R")
        pdf.set_fill_color(*s.colour)
        a, b = sorted((x(s.start), x(s.end)))
        pdf.rect(a, y + 0.6, max(b - a, 0.2), row_h - 1.2, style="F")
        pdf.set_xy(pdf.l_margin + label_w + span + 1, y)
        pdf.cell(17, row_h, f"{s.end:.4g}" if s.measure != "relative" else f"{s.delta:+.3g}")
        pdf.set_y(y + row_h)
    pdf.set_draw_color(80)
    pdf.line(x(0.0), top, x(0.0), pdf.get_y())
    pdf.ln(3)
    pdf.font()


_DRAW = {"image_overlay": _overlay, "token_highlight": _tokens, "ranked_bars": _bars, "generation_matrix": _matrix,
         "interaction_heatmap": _matrix,
         "waterfall": _waterfall}


def _agreement(pdf: _Doc, agreement: Agreement, owners):
    items = ", ".join(str(i + 1) for i in owners)
    d = renderer("agreement_matrix").prepare(agreement.methods, agreement.matrix, agreement.metric)
    _cells(pdf, f"{agreement.metric} (items {items})", d, label_w=45.0, top_h=30.0)
    pdf.set_fill_color(255)


def _environment(pdf: _Doc, env: dict):
    pdf.heading("Environment", 13)
    pdf.table_rows("Run", [(k, _value(v)) for k, v in env.items() if k != "packages"])
    pdf.table_rows("Packages", [(k, v or "not installed") for k, v in (env.get("packages") or {}).items()],
                   header=("package", "version"))
