"""One renderer per figure kind: the Plotly figure and the static forms (PNG, HTML, the PDF's rows and cells) come
from the same prepared data and the same colour scales; signed and unsigned pick the same scale in every form."""

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pypdf
import pytest
from PIL import Image

from explainers.core.explanation import Explanation
from reports.figures import RENDERERS, colour_scales, renderer
from reports.figures.base import display_scores, resize_values
from reports.figures.colour_scales import NEGATIVE, POSITIVE, SIGNED, apply, plotly_scale, tint
from reports.figures.ranked_bars import prepare_values
from reports.report import Agreement, ModelIdentity, ReportItem, make_item, new_report

KINDS = {"image_overlay", "token_highlight", "ranked_bars", "generation_matrix", "waterfall", "concept_maps",
         "agreement_matrix", "faithfulness_curves", "beeswarm", "dependence", "cluster_graph", "top_classes",
         "concept_crops", "distribution", "mean_maps", "responsiveness", "interaction_heatmap"}


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", css)[:3])


# --- random explanations of every kind -------------------------------------------------------------------------


def _text(rng, signed=True, n=6):
    tokens = ["[CLS]", *[f"w{i}" for i in range(n - 2)], "[SEP]"]
    text = " ".join(tokens[1:-1])
    offsets, at = [(0, 0)], 0
    for t in tokens[1:-1]:
        offsets.append((at, at + len(t)))
        at += len(t) + 1
    offsets.append((0, 0))
    scores = rng.standard_normal(n) if signed else rng.random(n)
    scores[[0, -1]] = 0
    special = [True] + [False] * (n - 2) + [True]
    return text, Explanation(scores, "occlusion", "text", "m", 1, "positive", tokens=tokens, signed=signed,
                             extras={"offsets": offsets, "special": special,
                                     "word_ids": [None, *range(n - 2), None]})


def _tabular(rng):
    names = ["age", "income", "<b>city</b>"]
    return Explanation(rng.standard_normal(3), "shap-tree", "tabular", "m", 0, "yes", feature_names=names,
                       base_value=0.2, extras={"shap_values": rng.standard_normal((12, 3)),
                                               "rows": rng.standard_normal((12, 3)), "output": 0.7,
                                               "categories": {}})


def _inputs(kind: str, rng):
    """(args, kwargs) for ``renderer(kind).prepare`` from random data."""
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    if kind == "image_overlay":
        return (Explanation(rng.standard_normal((20, 30)), "saliency", "image", "m", signed=True), image), {}
    if kind == "token_highlight":
        text, e = _text(rng)
        return (e, text), {}
    if kind == "ranked_bars":
        return (_tabular(rng),), {}
    if kind == "generation_matrix":
        return (Explanation(rng.standard_normal((3, 5)), "occlusion", "generation", "m", tokens=list("abcde"),
                            target_tokens=list("xyz"), signed=True),), {}
    if kind == "waterfall":
        return (_tabular(rng),), {}
    if kind in ("beeswarm",):
        return (_tabular(rng),), {}
    if kind == "dependence":
        return (_tabular(rng), "age", "income"), {}
    if kind == "concept_maps":
        return (image, rng.random((4, 5, 5)).astype(np.float32), [2, 0]), {}
    if kind == "concept_crops":
        return (rng.integers(0, 256, (3, 2, 8, 8, 3), dtype=np.uint8),), {}
    if kind == "cluster_graph":
        return ([0.5, 0.25, 0.25], [1.0, None, 0.5], rng.random(3)), {}
    if kind == "top_classes":
        return ([(3, "cat", 0.7), (1, "dog", 0.2)],), {}
    if kind == "agreement_matrix":
        m = rng.uniform(-1, 1, (3, 3))
        return (["a", "b", "c"], (m + m.T) / 2, "spearman"), {}
    if kind == "faithfulness_curves":
        return ({"fractions": [0, 0.5, 1], "deletion_curve": rng.random(3), "insertion_curve": rng.random(3)},), {}
    if kind == "distribution":
        return ({"grad-cam": rng.normal(0, 1, 30), "<b>rise</b>": rng.normal(1, 0.3, 12)},), {"better": "higher"}
    if kind == "mean_maps":
        return ([(str(c), rng.standard_normal((6, 6)).astype(np.float32), 3) for c in range(7)],), {}
    if kind == "responsiveness":
        e = Explanation(rng.random(3), "responsiveness", "tabular", "m", 0, "no", feature_names=["a", "<b>b</b>", "c"],
                        extras={"fixed": False, "ci": np.array([[0.1, 0.9], [0.2, 0.2], [0, 0]]), "n": [40, 5, 0],
                                "exact": [False, True, True], "actionable": ["a", "<b>b</b>"], "goal": "class yes",
                                "current": "no"})
        return (e,), {}
    if kind == "interaction_heatmap":
        e = _tabular(rng)
        m = rng.standard_normal((3, 3))
        e.extras["interactions"] = (m + m.T) / 2
        return (e,), {}
    raise AssertionError(kind)


def test_every_figure_kind_has_a_renderer_under_its_name():
    assert KINDS <= set(RENDERERS)
    assert all(r.kind == k for k, r in RENDERERS.items())
    with pytest.raises(KeyError, match="known: "):
        renderer("pie_chart")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_random_explanation_renders_in_every_form(kind, seed):
    rng = np.random.default_rng(seed)
    args, kwargs = _inputs(kind, rng)
    r = renderer(kind)
    d = r.prepare(*args, **kwargs)
    assert r.forms
    if r.plotly:
        assert r.plotly(d).to_json()
    if r.png:
        assert _png(r.png(d)).ndim == 3
    if r.html:
        assert r.html(d).startswith("<div")


# --- one colour-scale definition -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(colour_scales.SCALES))
def test_plotly_and_png_share_the_colour_stops(name):
    stops = plotly_scale(name)
    table = colour_scales.SCALES[name]
    assert [s[0] for s in stops] == pytest.approx(np.linspace(0, 1, len(table)))
    assert [_rgb(s[1]) for s in stops] == [tuple(int(c) for c in row) for row in table]
    # ``apply`` gives exactly the stops at the stops
    assert np.array_equal(apply(np.linspace(0, 1, len(table)), name, 0, 1), table.astype(np.uint8))


def test_signed_scale_is_blue_white_red():
    low, mid, high = apply(np.array([-1.0, 0.0, 1.0]), SIGNED, -1, 1)
    assert low[2] > low[0] and high[0] > high[2] and min(mid) > 240


# --- image overlay -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
def test_overlay_png_colours_are_the_scale_applied_to_the_figures_scores(signed):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    scores = rng.standard_normal((24, 32)) if signed else rng.random((24, 32))
    e = Explanation(scores, "m", "image", "m", signed=signed)
    r = renderer("image_overlay")
    d = r.prepare(e, image, colormap="Viridis", opacity=1.0)
    heat = r.plotly(d).data[1]
    assert np.array_equal(np.asarray(heat.z), d.grid) and np.allclose(d.grid, display_scores(scores, signed))
    name = SIGNED if signed else "Viridis"
    assert (heat.zmin, heat.zmax) == ((-1, 1) if signed else (0, 1))
    assert [list(s) for s in heat.colorscale] == plotly_scale(name)
    assert np.array_equal(_png(r.png(d))[:24, :32], apply(d.grid, name, heat.zmin, heat.zmax))  # above its bar
    # at half opacity: the same colours blended half over the image
    half = r.prepare(e, image, colormap="Viridis", opacity=0.5)
    expected = (image * 0.5 + apply(d.grid, name, heat.zmin, heat.zmax) * 0.5).round()
    assert np.abs(_png(r.png(half))[:24, :32].astype(int) - expected).max() <= 1


def test_a_large_overlay_shows_one_grid_in_both_forms():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (1000, 600, 3), dtype=np.uint8)
    e = Explanation(rng.random((1000, 600)), "m", "image", "m", signed=False)
    r = renderer("image_overlay")
    d = r.prepare(e, image, opacity=1.0)
    assert max(d.grid.shape) == 256 and max(d.shown.shape) == 768
    png = _png(r.png(d))[:d.shown.shape[0], :d.shown.shape[1]]  # the blended image, above its colour bar
    assert png.shape == d.shown.shape
    assert np.array_equal(png, apply(resize_values(d.grid, *d.shown.shape[:2]), d.scale, d.lo, d.hi))


def test_compare_shows_magnitudes_on_the_unsigned_scale():
    e = Explanation(np.array([[-1.0, 0.5], [0.0, 1.0]]), "m", "image", "m", signed=True)
    d = renderer("image_overlay").prepare(e, np.zeros((2, 2, 3), np.uint8), colormap="Jet", magnitude=True)
    assert d.scale == "Jet" and (d.lo, d.hi) == (0, 1) and np.allclose(d.grid, [[1, 0.5], [0, 1]])


# --- token highlight and ranked bars ------------------------------------------------------------------------------


class _Spans(HTMLParser):
    def __init__(self):
        super().__init__()
        self.spans = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and "title" in attrs:
            self.spans.append(attrs)


@pytest.mark.parametrize("signed", [True, False])
def test_token_highlight_html_pdf_cells_and_bars_share_their_colours(signed):
    text, e = _text(np.random.default_rng(3), signed=signed, n=8)
    r = renderer("token_highlight")
    d = r.prepare(e, text)
    parser = _Spans()
    parser.feed(r.html(d))
    tokens = [p for p in d.cells if p.kind == "token"]
    assert len(parser.spans) == len(tokens) == 6
    top = max(abs(p.score) for p in tokens)
    for span, piece in zip(parser.spans, tokens):
        colour = (POSITIVE if piece.score >= 0 else NEGATIVE) if signed else POSITIVE
        rgba = re.search(r"rgba\(([\d.,]+)\)", span["style"]).group(1).split(",")
        assert tuple(int(c) for c in rgba[:3]) == colour == piece.colour
        assert float(rgba[3]) == pytest.approx(0.8 * abs(piece.score) / top, abs=1e-3)
        assert piece.fill == tint(colour, piece.alpha)  # the PDF's cell: the same colour on white paper
        assert span["title"].startswith(piece.label + ":")
    # the ranked bars of the same explanation: same tokens, same sign colours, largest |score| first
    bars = renderer("ranked_bars").prepare(e)
    trace = renderer("ranked_bars").plotly(bars).data[0]
    by_token = {p.label: p for p in tokens}
    assert [row.label for row in bars.rows] == sorted(by_token, key=lambda t: -abs(by_token[t].score))
    for row, colour in zip(bars.rows[::-1], trace.marker.color):
        assert _rgb(colour) == row.colour == (POSITIVE if row.value >= 0 else NEGATIVE)
        assert (row.colour == by_token[row.label].colour) or not signed
    assert list(trace.x) == [row.value for row in bars.rows[::-1]]


def test_ranked_bars_are_the_same_rows_in_plotly_and_in_the_pdf():
    from reports.pdf import to_pdf

    e = Explanation(np.array([0.5, -2.0, 1.25, 0.0625]), "shap-tree", "tabular", "m", 0, "yes",
                    feature_names=["alpha", "beta", "gamma", "delta"])
    d = renderer("ranked_bars").prepare(e)
    assert [(r.label, r.value) for r in d.rows] == [("beta", -2.0), ("gamma", 1.25), ("alpha", 0.5), ("delta", 0.0625)]
    fig = renderer("ranked_bars").plotly(d)
    trace = fig.data[0]
    assert list(fig.layout.yaxis.ticktext)[::-1] == [r.label for r in d.rows]  # the first row on top
    assert list(trace.x)[::-1] == [r.value for r in d.rows]
    assert [_rgb(c) for c in trace.marker.color][::-1] == [r.colour for r in d.rows]
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(to_pdf(
        new_report("r", [ReportItem(e, {"alpha": 1, "beta": 2, "gamma": 3, "delta": 4}, ModelIdentity("m"))])))).pages)
    ranked = text[text.index("Ranked"):]
    positions = [ranked.index(name) for name in ("beta", "gamma", "alpha", "delta")]
    assert positions == sorted(positions)
    for value in ("-2", "1.25", "0.5", "0.0625"):
        assert value in ranked


# --- matrices -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
def test_generation_matrix_png_cells_are_the_heatmaps_values_on_its_scale(signed):
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((3, 4)) if signed else rng.random((3, 4)) * 7
    e = Explanation(scores, "occlusion", "generation", "m", tokens=list("abcd"), target_tokens=list("xyz"),
                    signed=signed)
    r = renderer("generation_matrix")
    d = r.prepare(e)
    heat = r.plotly(d).data[0]
    assert np.allclose(np.asarray(heat.z), display_scores(scores, signed))
    assert (heat.zmin, heat.zmax) == ((-1, 1) if signed else (0, 1))
    name = SIGNED if signed else colour_scales.UNSIGNED_MATRIX
    assert [list(s) for s in heat.colorscale] == plotly_scale(name)
    png = _png(r.png(d))
    assert png.shape[0] > 3 * 12 and png.shape[1] >= 4 * 12  # the cells, and their colour bar below them
    png = png[:3 * 12, :4 * 12]
    assert np.array_equal(png[6::12, 6::12], d.rgb) and np.array_equal(d.rgb, apply(heat.z, name, heat.zmin, heat.zmax))


def test_agreement_matrix_is_one_diverging_scale_on_the_page_and_in_the_reports():
    m = np.array([[1.0, -0.5], [-0.5, 1.0]])
    r = renderer("agreement_matrix")
    d = r.prepare(["a", "b"], m, "spearman")
    heat = r.plotly(d).data[0]
    assert (heat.zmin, heat.zmax) == (-1, 1) and [list(s) for s in heat.colorscale] == plotly_scale(SIGNED)
    assert np.array_equal(d.rgb, apply(m, SIGNED, -1, 1))
    # the HTML report draws this figure: the same z, scale and numbers
    from reports.html import to_html

    e = Explanation(np.zeros(2), "a", "tabular", "m", feature_names=["x", "y"])
    page = to_html(new_report("r", [ReportItem(e, {"x": 1, "y": 2}, ModelIdentity("m"),
                                               agreement=Agreement(["a", "b"], m, "spearman"))]))
    assert plotly_scale(SIGNED)[0][1] in page and '"zmin":-1' in page.replace(" ", "")


# --- other kinds ----------------------------------------------------------------------------------------------------


def test_concept_maps_figure_shows_the_png():
    rng = np.random.default_rng(2)
    r = renderer("concept_maps")
    d = r.prepare(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), rng.random((4, 5, 5)).astype(np.float32), [1, 3])
    source = r.plotly(d).data[0].source
    assert base64.b64decode(source.split(",", 1)[1]) == r.png(d)
    assert [t.name for t in r.plotly(d).data[1:]] == ["concept 2", "concept 4"]


def test_waterfall_steps_end_at_the_output():
    e = _tabular(np.random.default_rng(4))
    d = renderer("waterfall").prepare(e, max_features=2)
    assert d.steps[0].end == pytest.approx(0.2) and d.steps[-1].end == pytest.approx(0.7)
    assert len(d.steps) == 5 and d.steps[3].label == "1 other features"
    assert d.steps[-2].end == pytest.approx(0.2 + e.scores.sum())
    trace = renderer("waterfall").plotly(d).data[0]
    assert list(trace.x)[1:-1] == pytest.approx([s.delta for s in d.steps[1:-1]])


def test_top_classes_are_probabilities_best_on_top():
    d = renderer("top_classes").prepare([(3, "cat", 0.7), (1, "dog", 0.2)])
    fig = renderer("top_classes").plotly(d)
    assert list(fig.layout.yaxis.ticktext) == ["dog", "cat"] and fig.layout.xaxis.tickformat == ".0%"


def test_prepare_values_orders():
    d = prepare_values(["a", "b", "c"], [1.0, -3.0, 2.0], order="value", top=2)
    assert [r.label for r in d.rows] == ["c", "a"]


# --- a report item takes the page's prediction --------------------------------------------------------------------


def test_make_item_with_the_pages_prediction_runs_no_pass():
    from explainers import explain
    from tests.tiny_models import random_image, small_cnn

    model, x = small_cnn(16), random_image(16)
    prediction = model.predict(x)
    e = explain(model, x, method="saliency")
    before = model.n_forward, model.n_backward
    item = make_item(model, x, e, prediction=prediction, identity=ModelIdentity("tiny"))
    assert (model.n_forward, model.n_backward) == before
    again = make_item(model, x, e, identity=ModelIdentity("tiny"))
    assert model.n_forward == before[0] + 1  # without it, the model predicts once more
    assert item.prediction == again.prediction == list(prediction.top(5))


def test_a_table_rows_report_shows_its_waterfall_from_the_same_steps():
    from reports.html import to_html
    from reports.pdf import to_pdf
    from reports.views import views

    e = _tabular(np.random.default_rng(6))
    item = ReportItem(e, {"age": 1, "income": 2, "<b>city</b>": "x"}, ModelIdentity("m"), [(0, "yes", 0.7)])
    kinds = [v.kind for v in views(item)]
    assert kinds == ["ranked_bars", "waterfall"]
    steps = views(item)[1].data.steps
    assert steps[-1].end == pytest.approx(0.7)
    page = to_html(new_report("r", [item]))
    assert page.count('class="figure"') == 2 and "Waterfall" in page
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(to_pdf(new_report("r", [item])))).pages)
    waterfall = text[text.index("Waterfall"):]
    for step in steps[1:-1]:
        assert f"{step.delta:+.3g}" in waterfall
    assert "base value" in waterfall and f"{0.7:.4g}" in waterfall


def test_the_faithfulness_curves_say_which_curves_they_are():
    from reports.figures.faithfulness_curves import has_curves

    region = {"region_fractions": [0, 0.5, 1], "morf_curve": [0.9, 0.2, 0.1], "lerf_curve": [0.9, 0.8, 0.1]}
    d = renderer("faithfulness_curves").prepare(region)
    assert [name.split(":")[0] for name, _, _ in d.lines] == ["MoRF", "LeRF"]
    assert d.x_title == "share of the image's patches removed" and d.y_title == "probability of the class"
    pixels = {**region, "fractions": [0, 1], "deletion_curve": [0.9, 0.1], "insertion_curve": [0.2, 0.9]}
    names = [name for name, _, _ in renderer("faithfulness_curves").prepare(pixels).lines]
    assert len(names) == 4 and all("RISE paper" in n for n in names[2:])
    table = renderer("faithfulness_curves").prepare({"fractions": [0, 0.5, 1], "deletion_curve": [2.0, 1.0, 0.5]})
    assert table.lines[0][0].startswith("deletion: most important features") and table.y_title == "model output"
    assert not has_curves({"srg": 0.1}) and has_curves(region)
    with pytest.raises(ValueError):
        renderer("faithfulness_curves").prepare({"srg": 0.1})


def test_a_distribution_draws_tukeys_box_from_one_set_of_quartiles_in_both_forms():
    values = np.r_[np.arange(20, dtype=float), 100.0]  # one value far beyond the upper whisker
    r = renderer("distribution")
    d = r.prepare({"grad-cam": values, "empty": [np.nan]}, title="srg", value_title="srg", better="higher")
    assert [g.name for g in d.groups] == ["grad-cam"]  # a group without a value is not drawn
    g = d.groups[0]
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    assert (g.q1, g.median, g.q3) == pytest.approx((q1, median, q3))
    assert g.high == 19.0 and g.low == 0.0 and g.n == 21  # whiskers: the furthest values within 1.5 IQR
    fig = r.plotly(d)
    box = next(t for t in fig.data if t.type == "box")
    assert (box.q1[0], box.median[0], box.q3[0], box.lowerfence[0], box.upperfence[0]) == pytest.approx(
        (g.q1, g.median, g.q3, g.low, g.high))
    outside = next(t for t in fig.data if t.type == "scatter")
    assert list(outside.x) == [100.0]
    assert "higher is better" in fig.layout.xaxis.title.text
    assert _png(r.png(d)).shape[1] == 900
    assert r.plotly(r.prepare({"a": values}, style="violin")).data[0].type == "violin"
    with pytest.raises(ValueError, match="box, violin"):
        r.prepare({"a": values}, style="pie")


def test_mean_maps_share_one_scale_and_the_png_tiles_are_that_scale_applied():
    r = renderer("mean_maps")
    a, b = np.full((4, 4), 0.2, np.float32), np.full((4, 4), 0.8, np.float32)
    d = r.prepare([("cat", a, 3), ("dog", b, 5)])
    assert d.names == ["cat (n=3)", "dog (n=5)"] and d.scale == colour_scales.UNSIGNED
    assert d.values[0].max() == pytest.approx(0.25) and d.values[1].max() == pytest.approx(1.0)  # one scale
    fig = r.plotly(d)
    assert {t.coloraxis for t in fig.data} == {"coloraxis"} and len(fig.data) == 2
    image = _png(r.png(d))
    expected = apply(np.array([0.25, 1.0]), d.scale, d.lo, d.hi)
    tile_top = 10 + 20  # gap + caption
    assert tuple(image[tile_top + 5, 10 + 5]) == tuple(expected[0])
    assert tuple(image[tile_top + 5, 10 + 120 + 10 + 5]) == tuple(expected[1])
    signed = r.prepare([("x", -a, 1), ("y", b, 1)])
    assert signed.scale == SIGNED and signed.lo == -1.0
