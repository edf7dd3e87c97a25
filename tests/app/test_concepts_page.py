"""The Concepts page through AppTest: sample views, uploads (files and a ZIP), bad archives, the Run flow."""

import io
import zipfile

from PIL import Image

from models.inputs.samples import sample_views
from tests.conftest import encode

FAST = {"param:craft:n_concepts": 4, "param:craft:nb_design": 8}


def open_page(at):
    at.switch_page("pages/concepts.py").run()
    assert not at.exception
    return at


def chart_ids(app) -> set[str]:
    return {chart.proto.id.rsplit("-", 1)[-1] for chart in app.get("plotly_chart")}


def set_fast(at):
    for key, value in FAST.items():
        at.number_input(key=key).set_value(value)
    at.run()


def test_sample_views_run_shows_every_view(at):
    open_page(at)
    assert at.selectbox(key="concept_target:efficientnet-lite0:sample:chelsea (cat):8").value == 285  # Egyptian cat
    set_fast(at)
    assert any("Estimated cost: 136 forward" in c.value for c in at.caption)  # 8 × (16 crops + the image)
    at.button(key="concept_run").click().run()
    assert not at.exception and not at.error
    charts = " ".join(chart.proto.id for chart in at.get("plotly_chart"))
    for key in ("concept_importance", "concept_maps", "concept_local", "concept_clusters"):
        assert key in charts
    captions = "\n".join(c.value for c in at.caption)
    assert "craft for **Egyptian cat**" in captions and "128 crops" in captions
    assert any(m.label == "C-Deletion" for m in at.metric)
    at.selectbox(key="concept_image").set_value(3).run()
    at.slider(key="concept_topk").set_value(2).run()
    assert not at.exception and "concept_maps" in " ".join(c.proto.id for c in at.get("plotly_chart"))


def test_upload_files_and_a_zip(at):
    open_page(at)
    at.radio(key="concept_source").set_value("Upload").run()
    views = sample_views("coffee", 3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("more/c.png", encode(Image.fromarray(views[2]), "PNG"))
    files = [("a.png", encode(Image.fromarray(views[0]), "PNG"), "image/png"),
             ("b.jpg", encode(Image.fromarray(views[1]), "JPEG"), "image/jpeg"),
             ("set.zip", buf.getvalue(), "application/zip")]
    at.file_uploader(key="concept_uploads").set_value(files).run()
    assert not at.exception and not at.error
    target = next(s for s in at.selectbox if s.key.startswith("concept_target:"))
    assert target.value == 967  # espresso
    assert any("3 images" in c.value for c in at.caption)

    at.switch_page("pages/report.py").run()  # the uploads come back with the page
    open_page(at)
    assert not at.exception and at.radio(key="concept_source").value == "Upload"
    assert any("earlier uploads" in c.value and r"a\.png, b\.jpg, set\.zip" in c.value for c in at.caption)
    assert any("3 images" in c.value for c in at.caption)


def test_bad_zip_is_a_sentence(at):
    open_page(at)
    at.radio(key="concept_source").set_value("Upload").run()
    at.file_uploader(key="concept_uploads").set_value([("set.zip", b"PK\x03\x04 nope", "application/zip")]).run()
    assert not at.exception
    assert any("not a readable ZIP" in e.value for e in at.error)


def test_a_zip_entry_named_like_markdown_is_captioned_as_text(at):
    """A ZIP entry named with Markdown image syntax: its caption is escaped, so the browser fetches nothing."""
    from pages.widgets import plain

    open_page(at)
    at.radio(key="concept_source").set_value("Upload").run()
    name = "![x](http://127.0.0.1:9/x.png).png"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, view in enumerate(sample_views("coffee", 2)):
            z.writestr(name if k == 0 else "plain.png", encode(Image.fromarray(view), "PNG"))
    at.file_uploader(key="concept_uploads").set_value([("set.zip", buf.getvalue(), "application/zip")]).run()
    assert not at.exception and not at.error
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert plain(name) in captions and name not in captions and "plain\\.png" in captions
