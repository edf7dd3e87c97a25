"""Exports that look right: PDF tables readable whatever a figure drew before them, headings kept with what follows,
figures on one page with their colour bars; HTML figures with axis titles in Lumen's own template."""

import hashlib
import io
import json
import re

import numpy as np
import plotly.io as pio
import pypdf
import pytest

from explainers.core.explanation import Explanation
from reports.html import to_html
from reports.pdf import TABLE_FILL, _Doc, to_pdf
from reports.report import HASH_OF_FILE, Agreement, ModelIdentity, ReportItem, new_report
from tests.pdf_drawing import image_bottoms, luminance, page_drawing, table_fills, unreadable_cells


def _craft(rng, n_concepts=4):
    return Explanation(rng.random(n_concepts).astype(np.float32), "craft", "image", "tiny", 3, "cat",
                       params={"seed": 0, "n_concepts": n_concepts},
                       extras={"importance_local": rng.random((2, n_concepts)).astype(np.float32),
                               "concept_maps": rng.random((2, n_concepts, 2, 2)).astype(np.float32),
                               "concept_bank": rng.random((n_concepts, 8)).astype(np.float32),
                               "concept_crops": rng.integers(0, 256, (n_concepts, 3, 16, 16, 3), dtype=np.uint8),
                               "predictions": ["cat", "dog"], "metrics": {"sparsity": 0.4}, "n_images": 2})


@pytest.fixture(scope="module")
def report():
    """A CRAFT item (coloured bars, a crops gallery) before items that carry tables, bars, a matrix and a map."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    model = ModelIdentity("tiny", "hand-made", hashlib.sha256(b"w").hexdigest(), HASH_OF_FILE)
    tab_e = Explanation(rng.standard_normal(12), "shap-tree", "tabular", "tiny", 0, "Adelie",
                        feature_names=[f"feature {k}" for k in range(12)], base_value=-1.5)
    image_e = Explanation(rng.random((48, 64)), "grad-cam", "image", "tiny", 3, "cat", params={"seed": 7})
    text_e = Explanation(rng.standard_normal(5), "integrated-gradients", "text", "tiny", 1, "positive",
                         tokens=["I", "love", "this", "very", "much"], base_value=0.25)
    gen_e = Explanation(rng.standard_normal((3, 4)), "attention-rollout", "generation", "tiny",
                        tokens=["a", "b", "c", "d"], target_tokens=["x", "y", "z"])
    agreement = Agreement(["grad-cam", "integrated-gradients"], [[1.0, 0.25], [0.25, 1.0]], "spearman")
    row = {f"feature {k}": float(k) for k in range(12)}
    items = [ReportItem(_craft(rng), [image, image[::-1].copy()], model, input_name="photos.zip"),
             ReportItem(tab_e, row, model, [(0, "Adelie", 0.6)], input_name="penguins.csv row 3"),
             ReportItem(_craft(rng, 10), [image, image], model),
             ReportItem(image_e, image, model, [(3, "cat", 0.75)], {"deletion_auc": 0.1}, agreement,
                        input_name="cat.png"),
             ReportItem(text_e, "I love this very much", model, [(1, "positive", 0.9)], {}, agreement),
             ReportItem(gen_e, "a b c d", model),
             ReportItem(tab_e, row, model, [(0, "Adelie", 0.6)])]
    return new_report("Looks", items)


@pytest.fixture(scope="module")
def pdf(report) -> bytes:
    return to_pdf(report)


def test_no_table_cell_has_text_on_a_dark_fill_after_a_craft_item(pdf):
    fills = table_fills(pdf)
    assert len(fills) > 100  # every table's cells are filled explicitly (the Model, Explanation... tables)
    assert min(luminance(c) for c in fills) > 0.85, "a table cell is filled dark"
    assert unreadable_cells(pdf) == []


def test_a_fill_colour_left_by_a_figure_does_not_reach_a_table():
    """What happened after CRAFT: a figure's dark fill stayed the current colour and the next table took it."""
    doc = _Doc("t")
    doc.add_page()
    doc.set_fill_color(40, 40, 120)  # dark indigo, as a figure might leave it
    doc.set_text_color(0)
    doc.table_rows("Model", [("name", "tiny"), ("source", "hand-made")], header=("key", "value"))
    data = bytes(doc.output())
    fills = table_fills(data)
    assert len(fills) == 6 and all(luminance(c) > 0.85 for c in fills)
    assert tuple(round(v * 255) for v in fills[-1]) == TABLE_FILL
    assert unreadable_cells(data) == []


def test_unreadable_cells_finds_black_on_indigo():
    """The check itself can fail: black text in a dark cell is reported."""
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("Helvetica", size=9)
    doc.set_fill_color(40, 40, 120)
    doc.cell(40, 6, "unreadable", border=1, fill=True)
    assert len(unreadable_cells(bytes(doc.output()))) == 1


def _page_texts(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


FOOTER_Y = 40  # points from the bottom: the footer's line


def test_headings_are_never_last_on_a_page(pdf):
    """The last thing on a page is never a heading: either an image ends it (below every text) or its last line
    of text is not a heading."""
    headings = ("Input", "Model", "Prediction", "Explanation", "Parameters", "Metrics", "Ranked", "Tokens",
                "Concept importance", "Attribution", "Run", "Packages")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    checked = 0
    for n, page in enumerate(reader.pages[:-1]):
        texts = [t.y for t in page_drawing(page)[1] if t.y > FOOTER_Y]
        if image_bottoms(page) and min(image_bottoms(page)) < min(texts):
            continue  # a figure ends the page
        lines = [ln.strip() for ln in page.extract_text().splitlines() if ln.strip()]
        body = [ln for ln in lines if " — page " not in ln]  # the footer
        assert body and not body[-1].startswith(headings), f"page {n + 1} ends with the heading {body[-1]!r}"
        checked += 1
    assert checked >= 3


def test_bar_charts_are_not_split_across_pages(pdf):
    """Each chart's bars (filled, not outlined) lie on one page: ten concepts' bars all on the page of their title."""
    texts = _page_texts(pdf)
    pages = [n for n, t in enumerate(texts) if "concept 10" in t]
    assert len(pages) == 1 and all(f"concept {k}" in texts[pages[0]] for k in range(1, 11))


def test_every_matrix_has_a_colour_bar_with_its_ticks(pdf):
    text = " ".join(_page_texts(pdf))
    assert "relevance to the generated token" in text and "or more" in text  # the generation matrix's bar
    assert "spearman" in text and "not clipped" in text  # the agreement matrix's bar
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    ramps = 0
    for page in reader.pages:
        fills, _ = page_drawing(page)
        strips = [f for f in fills if not f.stroked and abs(abs(f.h) - 3.2 * 72 / 25.4) < 0.1]
        ramps += len(strips) >= 64
    assert ramps >= 2  # one ramp under each matrix


def test_image_overlay_in_the_pdf_carries_its_colour_bar(report):
    from reports.figures import renderer
    from reports.views import views

    item = report.items[3]
    view = next(v for v in views(item) if v.kind == "image_overlay")
    png = renderer("image_overlay").png(view.data)
    from PIL import Image

    h = Image.open(io.BytesIO(png)).size[1]
    assert h > view.data.shown.shape[0] + 40  # the bar and its words below the image


def _near_the_end(space_mm: float) -> _Doc:
    doc = _Doc("t")
    doc.add_page()
    doc.paragraph("text before")
    doc.set_y(doc.page_break_trigger - space_mm)
    return doc


def test_a_table_heading_moves_to_the_page_of_its_rows():
    doc = _near_the_end(8)
    doc.table_rows("Model", [("name", "tiny"), ("source", "hand-made"), ("sha", "x")])
    texts = _page_texts(bytes(doc.output()))
    assert len(texts) == 2 and "Model" not in texts[0] and "Model" in texts[1] and "name" in texts[1]


def test_a_bar_chart_moves_whole_to_the_next_page():
    from reports.figures import renderer
    from reports.pdf import _bars
    from reports.views import View

    rng = np.random.default_rng(1)
    e = _craft(rng, 10)
    doc = _near_the_end(50)  # room for eight bars, not ten
    _bars(doc, View("ranked_bars", "Concept importance", renderer("ranked_bars").prepare(e)))
    texts = _page_texts(bytes(doc.output()))
    assert len(texts) == 2 and "concept" not in texts[0].lower()
    assert all(f"concept {k}" in texts[1] for k in range(1, 11))


def _figures(html: str) -> list[dict]:
    """Every Plotly figure's {data, layout} as the file passes it to Plotly.newPlot."""
    specs = re.findall(r"<script>\(function\(\)\{var f=(.*?);Plotly\.newPlot", html, flags=re.S)
    return [json.loads(s) for s in specs]


CARTESIAN = {"bar", "heatmap", "waterfall", "scatter"}


def _title(axis: dict) -> str:
    title = axis.get("title")
    return (title.get("text") if isinstance(title, dict) else title) or ""


def test_html_figures_have_axis_titles_room_for_them_and_lumens_template(report):
    pio.templates["garish"] = {"layout": {"paper_bgcolor": "#ff00ff", "font": {"color": "#00ff00"}}}
    before = pio.templates.default
    pio.templates.default = "garish"  # as Streamlit makes its theme the default when a page imports it
    try:
        html = to_html(report)
    finally:
        pio.templates.default = before
    figures = _figures(html)
    assert len(figures) >= 6
    assert "#ff00ff" not in html.lower() and "#00ff00" not in html.lower()
    checked = 0
    for f in figures:
        layout = f["layout"]
        template = layout["template"]["layout"]
        assert template["paper_bgcolor"] == "#ffffff" and "system-ui" in template["font"]["family"]
        if not {t["type"] for t in f["data"]} & CARTESIAN or layout.get("xaxis", {}).get("visible") is False:
            continue  # an image with its map: no axes shown
        for name in ("xaxis", "yaxis"):
            axis = layout.get(name, {})
            assert _title(axis).strip(), f"{name} without a title in {[t['type'] for t in f['data']]}"
            assert axis.get("automargin") is True
        assert layout["margin"]["l"] >= 60 and layout["margin"]["b"] >= 50
        checked += 1
    assert checked >= 5  # bars, waterfall-less tabular bars, the generation matrix, the agreement matrix...
