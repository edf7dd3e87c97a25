"""Dataset views in a report (reports.report.DatasetView): the HTML, the PDF and the bundle draw them from the same
renderers as the Datasets page, and a bundle gives them back exactly; malformed ones are refused with a sentence."""

import io
import json
import zipfile

import numpy as np
import pypdf
import pytest

from models.errors import InputError
from reports.bundle import read_bundle, write_bundle
from reports.html import to_html
from reports.pdf import to_pdf
from reports.report import DatasetView, new_report


def _views():
    rng = np.random.default_rng(0)
    return [
        DatasetView("mean_maps", "grad-cam: mean map per <label>", ["0", "1", "2"],
                    [rng.random((8, 8)) for _ in range(3)], [5, 6, 7], source="vit-digits on 18 inputs of digits"),
        DatasetView("distribution", "srg per method", ["grad-cam", "saliency"],
                    [rng.normal(0, 1, 40), rng.normal(0.3, 0.2, 40)],
                    options={"value_title": "srg", "better": "higher", "style": "violin"}),
        DatasetView("ranked_bars", "shap-tree: mean |score| over 50 rows", ["radius", "texture", "area"],
                    [np.array([0.3, 0.1, 0.2])], options={"x_title": "mean |score|"}),
    ]


def test_a_bundle_gives_dataset_views_back_exactly():
    report = new_report("Datasets", [], views=_views())
    back = read_bundle(write_bundle(report))
    assert back.items == [] and len(back.views) == 3
    for a, b in zip(report.views, back.views):
        assert (a.kind, a.title, a.names, a.counts, a.options, a.source) == (b.kind, b.title, b.names, b.counts,
                                                                             b.options, b.source)
        assert all(np.array_equal(x, y) for x, y in zip(a.arrays, b.arrays))
    with zipfile.ZipFile(io.BytesIO(write_bundle(report))) as zf:
        names = set(zf.namelist())
    assert {"views/001/figure.png", "views/002/figure.png", "views/003/arrays.npz"} <= names  # bars: no PNG form


def test_the_html_and_the_pdf_draw_every_view():
    report = new_report("Datasets", [], views=_views())
    html = to_html(report)
    assert html.count('id="dataset-view-') == 3 and "grad-cam: mean map per &lt;label&gt;" in html
    assert 'data-kind="distribution"' in html and "violin" in html
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(to_pdf(report))).pages)
    for title in ("grad-cam: mean map per <label>", "srg per method", "radius"):
        assert title in text


def test_malformed_views_are_refused_with_a_sentence():
    with pytest.raises(InputError, match="drawn as one of"):
        DatasetView("pie", "x", ["a"], [np.zeros(3)])
    with pytest.raises(InputError, match="one 2-D map and one count"):
        DatasetView("mean_maps", "x", ["a", "b"], [np.zeros((2, 2)), np.zeros((2, 2))], [1])
    with pytest.raises(InputError, match="one value per name"):
        DatasetView("ranked_bars", "x", ["a", "b"], [np.zeros(3)])
    with pytest.raises(InputError, match="options"):
        DatasetView("distribution", "x", ["a"], [np.zeros(3)], options={"colour": "red"})


def _rewritten(bundle: bytes, name: str, data: bytes) -> bytes:
    """``bundle`` with member ``name`` replaced by ``data`` and its hash in the manifest updated."""
    import hashlib

    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    members[name] = data
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


def test_a_view_whose_arrays_would_unpack_beyond_the_budget_is_refused_before_unpacking():
    bundle = write_bundle(new_report("Datasets", [], views=_views()[1:2]))
    buf = io.BytesIO()
    np.savez_compressed(buf, array_000=np.zeros(11_000_000), array_001=np.zeros(3))  # 88 MB of zeros, 90 kB zipped
    with pytest.raises(InputError, match="over 10,000,000 values"):
        read_bundle(_rewritten(bundle, "views/001/arrays.npz", buf.getvalue()))
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=True, array_000=np.array([{"a": 1}], dtype=object), array_001=np.zeros(3))
    with pytest.raises(InputError):  # a pickled object is never loaded
        read_bundle(_rewritten(bundle, "views/001/arrays.npz", buf.getvalue()))
