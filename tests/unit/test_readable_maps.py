"""Readable maps: percentile clipping (reports/figures/base.py ``scaling``) and a legend on every map, in every form."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from explainers import Explanation
from reports.figures import colour_scales, renderer
from reports.figures.base import CLIP_PERCENTILE, display_scores, scaling
from reports.figures.image_overlay import blended


def _sparse(seed=0, shape=(40, 50)):
    """A sparse signed map: small scores of both signs and one huge pixel (a gradient map's outlier)."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(shape) * 0.01
    s[3, 4] = 100.0
    return s


def _old_display(scores, signed):
    """The scaling Lumen used before clipping (copied from the previous ``display_scores``)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float32))
    if signed:
        top = np.abs(s).max() if s.size else 0
        return s / top if top > 0 else s
    lo, hi = (s.min(), s.max()) if s.size else (0, 0)
    if lo >= 0 and hi <= 1:
        return s
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_default_percentile_is_99():
    assert CLIP_PERCENTILE == 99


def test_a_sparse_signed_map_is_blank_unclipped_and_readable_clipped():
    s = _sparse()
    unclipped = np.abs(display_scores(s, True, percentile=100))
    clipped = np.abs(display_scores(s, True))
    assert (unclipped >= 0.1).mean() < 0.001  # one pixel of 2000: the map looks blank
    assert (clipped >= 0.1).mean() > 0.5
    assert clipped.max() == 1 and clipped[3, 4] == 1  # the outlier saturates


def test_a_sparse_unsigned_map_is_readable_clipped():
    s = np.abs(_sparse(1))
    s /= s.max()  # as the image explainers return unsigned maps: in [0, 1], maximum 1
    assert (display_scores(s, False, percentile=100) >= 0.1).mean() < 0.001
    assert (display_scores(s, False) >= 0.1).mean() > 0.5


@pytest.mark.parametrize("signed", [True, False])
def test_clipping_keeps_signs_and_order(signed):
    rng = np.random.default_rng(2)
    s = rng.standard_normal(500) ** 3 if signed else rng.random(500) ** 4
    d = display_scores(s, signed)
    if signed:
        assert np.array_equal(np.sign(d), np.sign(s))
        assert d.min() >= -1 and d.max() <= 1
    else:
        assert d.min() >= 0 and d.max() <= 1
    order = np.argsort(s)
    assert np.all(np.diff(d[order]) >= 0)  # never reversed: ties only where clipped
    k = scaling(s, signed)
    inside = np.abs(s) <= k.hi if signed else s <= k.hi
    assert np.all(np.diff(d[order][inside[order]]) > 0)  # strictly ordered below the clip
    assert k.clipped == int((~inside).sum()) and 0 < k.clipped <= 0.011 * s.size


def test_the_percentile_is_a_plain_percentile_of_the_values():
    s = np.arange(-100, 101, dtype=np.float64)  # |s|: 0..100, each twice (0 once)
    k = scaling(s, True, 90)
    assert k.hi == pytest.approx(np.percentile(np.abs(s), 90)) and k.lo == -k.hi
    assert display_scores(s, True, 90)[-1] == 1 and display_scores(s, True, 90)[100] == 0
    u = scaling(np.arange(101.0), False, 90)
    assert (u.lo, u.hi) == (0.0, pytest.approx(90.0))
    neg = scaling(np.arange(-10.0, 91.0), False, 100)
    assert (neg.lo, neg.hi) == (-10.0, 90.0)  # unsigned with negatives: from the minimum


def test_percentile_100_is_the_old_scaling():
    rng = np.random.default_rng(3)
    signed = rng.standard_normal((30, 20))
    assert np.allclose(display_scores(signed, True, 100), _old_display(signed, True))
    assert np.allclose(display_scores(_sparse(), True, 100), _old_display(_sparse(), True))
    unsigned = rng.random((30, 20))
    unsigned /= unsigned.max()  # as image explainers return them
    assert np.allclose(display_scores(unsigned, False, 100), _old_display(unsigned, False))
    shifted = rng.random((30, 20)) - 0.3  # a negative minimum: min-max, before and now
    assert np.allclose(display_scores(shifted, False, 100), _old_display(shifted, False))


def test_a_map_mostly_zero_still_shows_its_non_zero_scores():
    s = np.zeros((20, 20))
    s[0, 0], s[1, 1] = 2.0, -1.0  # 99.5 % zeros: the 99th percentile of |s| is 0
    d = display_scores(s, True)
    assert (d[0, 0], d[1, 1]) == (1.0, -0.5) and np.count_nonzero(d) == 2
    assert not np.any(display_scores(np.zeros((3, 3)), True)) and not np.any(display_scores(np.zeros(3), False))


def test_the_percentile_must_be_in_range():
    with pytest.raises(ValueError):
        scaling(np.ones(3), True, 0)
    with pytest.raises(ValueError):
        scaling(np.ones(3), True, 101)


# --- the image overlay says what its colours mean ---------------------------------------------------------------


def _explanation(signed=True, label="tabby"):
    s = _sparse(4, (30, 40))
    return Explanation(s if signed else np.abs(s), "integrated-gradients", "image", "m", signed=signed, target=281,
                       target_label=label)


def test_the_overlay_uses_the_chosen_percentile():
    image = np.zeros((30, 40, 3), np.uint8)
    r = renderer("image_overlay")
    d99 = r.prepare(_explanation(), image)
    d100 = r.prepare(_explanation(), image, percentile=100)
    assert (np.abs(d99.grid) >= 0.1).mean() > 0.5 and (np.abs(d100.grid) >= 0.1).mean() < 0.01
    assert "99th percentile" in d99.legend.clipping and "largest" in d100.legend.clipping


def test_plotly_colour_bar_names_the_class_and_the_meaning_and_hover_reads_true_scores():
    r = renderer("image_overlay")
    e = _explanation(label="<b>tabby</b>")
    d = r.prepare(e, np.zeros((30, 40, 3), np.uint8))
    heat = r.plotly(d).data[1]
    title = heat.colorbar.title.text
    assert "relevance to &lt;b&gt;tabby&lt;/b&gt;" in title  # the class, as text
    assert "red: raises the class score" in title and "blue: lowers it" in title and "99th percentile" in title
    assert list(heat.colorbar.tickvals) == [-1, 0, 1]
    assert heat.colorbar.ticktext[2].startswith(f"+{d.legend.ticks[2][1][1:]}")
    assert np.allclose(np.asarray(heat.customdata), e.scores, atol=1e-5)  # the true scores, unclipped
    assert np.asarray(heat.customdata).max() == pytest.approx(100.0) and "customdata" in heat.hovertemplate
    unsigned = r.plotly(r.prepare(_explanation(signed=False), np.zeros((30, 40, 3), np.uint8))).data[1]
    assert "0 … the 99th percentile and above" in unsigned.colorbar.title.text
    assert list(unsigned.colorbar.tickvals) == [0, 1] and unsigned.colorbar.ticktext[1].endswith("or more")


def test_magnitude_legend_says_magnitude():
    d = renderer("image_overlay").prepare(_explanation(), np.zeros((30, 40, 3), np.uint8), magnitude=True)
    assert d.legend.title == "|relevance| to tabby" and d.scale == colour_scales.UNSIGNED


@pytest.mark.parametrize("signed", [True, False])
def test_png_export_has_the_colour_bar_below_the_image(signed):
    r = renderer("image_overlay")
    image = np.full((300, 500, 3), 128, np.uint8)
    s = np.zeros((300, 500))
    s[:150] = 1.0 if not signed else 0.0
    s[150:] = -1.0 if signed else 0.0
    s[:, :250] *= -1 if signed else 1
    e = Explanation(s, "m", "image", "m", signed=signed, target_label="tabby")
    d = r.prepare(e, image, colormap="Viridis", opacity=1.0)
    png = _png(r.png(d))
    h, w = d.shown.shape[:2]
    assert png.shape[0] > h + 40 and png.shape[1] >= w
    assert np.array_equal(png[:h, :w], blended(d))  # the blended image, unchanged, on top
    panel = png[h:].reshape(-1, 3)
    ends = colour_scales.apply(np.array([d.lo, d.hi]), d.scale, d.lo, d.hi)
    for colour in ends:  # both ends of the bar's scale are drawn below the image
        assert np.any(np.all(np.abs(panel.astype(int) - colour) <= 2, axis=1))
    assert np.mean(np.all(panel < 60, axis=1)) > 0.001  # and dark text: the words
    # the bar: one row of the panel runs through the scale, its low end on the left, its high end on the right
    def near(row, colour):
        return np.nonzero(np.all(np.abs(row.astype(int) - colour) <= 6, axis=1))[0]

    bars = [row for row in png[h:] if near(row, ends[0]).size and near(row, ends[1]).size]
    assert bars and all(near(row, ends[0]).min() < 0.05 * png.shape[1] < 0.95 * png.shape[1] < near(row, ends[1]).max()
                        for row in bars)


def test_a_small_image_gets_a_canvas_wide_enough_for_its_legend():
    r = renderer("image_overlay")
    d = r.prepare(_explanation(), np.zeros((30, 40, 3), np.uint8))
    png = _png(r.png(d))
    assert png.shape[1] >= 400 and png.shape[0] > 30 + 40


# --- the other maps: generation matrix, token highlight --------------------------------------------------------


def test_generation_matrix_colour_bar_says_what_the_values_are():
    rng = np.random.default_rng(6)
    s = rng.standard_normal((10, 30)) * 0.01  # 300 cells: a plain percentile of a handful of cells is near the max
    s[0, 0] = 9.0
    e = Explanation(s, "gradient-x-input", "generation", "m", tokens=[f"t{j}" for j in range(30)],
                    target_tokens=[f"g{i}" for i in range(10)], signed=True)
    r = renderer("generation_matrix")
    d = r.prepare(e)
    fig = r.plotly(d)
    bar, title = fig.data[0].colorbar, fig.layout.title.text
    assert bar.title.text == "relevance" and list(bar.tickvals) == [-1, 0, 1] and bar.ticktext[2].endswith("or more")
    assert "relevance to the generated token" in title and "red: raises" in title and "99th percentile" in title
    assert (np.abs(d.values) >= 0.1).mean() > 0.5  # clipped like the image maps
    assert (np.abs(r.prepare(e, percentile=100).values) >= 0.1).mean() < 0.1


def test_token_highlight_html_has_its_legend():
    from reports.figures.token_highlight import token_html

    e = Explanation(np.array([1.0, -0.5, 0.25]), "occlusion", "text", "m", tokens=["good", "bad", "ok"], signed=True,
                    target=1, target_label="<i>positive</i>")
    out = token_html(None, e)
    assert 'class="lumen-legend"' in out and "relevance to &lt;i&gt;positive&lt;/i&gt;" in out and "<i>" not in out
    assert "red raises the class score" in out and "blue lowers it" in out and "full at 1" in out
    unsigned = token_html(None, Explanation(np.array([2.0, 1.0]), "attention", "text", "m", tokens=["a", "b"],
                                            signed=False))
    assert "red: a higher score" in unsigned and "blue" not in unsigned


def test_pdf_prints_the_token_legend_and_the_overlay_with_its_bar():
    import pypdf

    from reports.pdf import to_pdf
    from reports.report import ModelIdentity, ReportItem, new_report

    text = Explanation(np.array([1.0, -0.5]), "occlusion", "text", "m", tokens=["good", "bad"], signed=True,
                       target_label="positive")
    image = np.full((60, 80, 3), 100, np.uint8)
    report = new_report("r", [ReportItem(text, "good bad", ModelIdentity("m")),
                              ReportItem(_explanation(), np.zeros((30, 40, 3), np.uint8), ModelIdentity("m"))])
    reader = pypdf.PdfReader(io.BytesIO(to_pdf(report)))
    words = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "red raises the class score" in words and "blue lowers it" in words and "relevance to positive" in words
    widths = [img.image.size for page in reader.pages for img in page.images]
    assert any(w >= 400 and h > 30 + 40 for w, h in widths)  # the overlay: the image and its bar below it
    del image


# --- report items keep the page's options ------------------------------------------------------------------------


def _item(percentile):
    from reports.report import ModelIdentity, ReportItem

    return ReportItem(_explanation(), np.zeros((30, 40, 3), np.uint8), ModelIdentity("m"),
                      view_options={"image_overlay": {"percentile": percentile, "colormap": "Viridis",
                                                      "opacity": 0.5}})


def test_report_views_use_the_items_percentile():
    from reports.views import views

    clipped, unclipped = views(_item(99.0))[0].data, views(_item(100.0))[0].data
    assert (np.abs(clipped.grid) >= 0.1).mean() > 0.5 and (np.abs(unclipped.grid) >= 0.1).mean() < 0.01
    assert "99th" in clipped.legend.clipping


def test_bundle_keeps_the_view_options_and_draws_its_figure_with_them():
    import json
    import zipfile

    from reports.bundle import MANIFEST, read_bundle, write_bundle
    from reports.report import new_report

    item = _item(95.0)
    data = write_bundle(new_report("r", [item]))
    back = read_bundle(data).items[0]
    assert back.view_options == {"image_overlay": {"percentile": 95.0, "colormap": "Viridis", "opacity": 0.5}}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        figure = _png(zf.read("items/001/figure_image_overlay.png"))
        manifest = json.loads(zf.read(MANIFEST))
        members = {n: zf.read(n) for n in zf.namelist()}
    expected = renderer("image_overlay").prepare(item.explanation, item.input, percentile=95.0, colormap="Viridis")
    assert np.array_equal(figure[:30, :40], blended(expected))
    # a bundle whose options are not Lumen's is refused, with a sentence
    from models.errors import InputError

    for bad in ({"image_overlay": {"percentile": 0}}, {"image_overlay": {"__class__": 1}}, {"pdf": {}},
                {"image_overlay": {"colormap": "../x"}}, {"image_overlay": {"magnitude": "yes"}}):
        manifest["items"][0]["view_options"] = bad
        members[MANIFEST] = json.dumps(manifest).encode()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, content in members.items():
                zf.writestr(name, content)
        with pytest.raises(InputError, match="view options|option"):
            read_bundle(buf.getvalue())


def test_make_item_keeps_the_options_a_report_can_draw(cnn, chelsea):
    from explainers import explain
    from reports.report import make_item

    e = explain(cnn, chelsea[:64, :64], "grad-cam")
    item = make_item(cnn, chelsea[:64, :64], e, view_options={
        "image_overlay": {"percentile": 97.0, "opacity": 0.3, "title": "page only"}, "some_new_kind": {"a": 1}})
    assert item.view_options == {"image_overlay": {"percentile": 97.0, "opacity": 0.3}}


def test_concept_maps_legend_names_each_concept_and_says_what_colour_means():
    maps = np.zeros((3, 4, 4))
    maps[0, :2], maps[2, 2:] = 1.0, 0.5
    fig = renderer("concept_maps").figure(np.zeros((8, 8, 3), np.uint8), maps, [0, 2])
    assert [t.name for t in fig.data[1:]] == ["concept 1", "concept 3"] and fig.layout.showlegend
    assert "strongest concept" in fig.layout.legend.title.text
