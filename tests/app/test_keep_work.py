"""Nothing a user made is lost by navigating or reloading (issue 17, deliver 1), through AppTest: widget values and
uploads survive page switches, the report is saved on the server and comes back from its URL, a view is shared
as a URL, and clearing the report asks first."""

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explainers import Explanation
from pages.widgets import wait_for_saved
from reports import saved
from reports.bundle import write_bundle
from reports.report import ModelIdentity, ReportItem, new_report
from tests.app.conftest import APP
from tests.conftest import encode

def fresh(query: dict | None = None) -> AppTest:
    """A new session (a reload, or a link opened in another browser), with ``query`` in its URL."""
    app = AppTest.from_file(APP, default_timeout=300)
    for name, value in (query or {}).items():
        app.query_params[name] = value
    app.run()
    assert not app.exception
    return app


def _text_item(method: str) -> ReportItem:
    e = Explanation(scores=np.array([0.5, -0.25], dtype=np.float32), method=method, modality="text", model="m",
                    target=1, target_label="positive", tokens=["good", "film"])
    return ReportItem(e, "good film", ModelIdentity("m"))


def item_lines(at) -> list[str]:
    return [t.value for t in at.text if t.value[:1].isdigit()]


def import_items(at, methods: list[str], title: str = "kept") -> None:
    at.switch_page("pages/report.py").run()
    bundle = write_bundle(new_report(title, [_text_item(m) for m in methods]))
    at.file_uploader(key="report_import").set_value(("r.zip", bundle, "application/zip")).run()
    assert not at.exception and len(item_lines(at)) == len(methods)


def test_widget_values_survive_leaving_a_page_and_coming_back(at):
    at.multiselect(key="methods:cam").set_value(["grad-cam", "grad-cam++"]).run()
    at.multiselect(key="methods:gradient").set_value(["saliency"]).run()
    at.selectbox(key="image_sample").set_value("coffee").run()
    at.switch_page("pages/text.py").run()
    assert not at.exception
    at.switch_page("pages/image.py").run()
    assert not at.exception
    assert at.selectbox(key="image_sample").value == "coffee"
    assert at.multiselect(key="methods:cam").value == ["grad-cam", "grad-cam++"]
    assert at.multiselect(key="methods:gradient").value == ["saliency"]


def test_a_widget_another_page_draws_too_keeps_its_value_back_on_this_page(at):
    # Compare draws the same image choice ("image_sample"): there it owns the value, and the Image page's widget of
    # the same key started from its default (chelsea) until every kept value was given back as the app's own
    at.selectbox(key="image_sample").set_value("coffee").run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception and at.selectbox(key="image_sample").value == "coffee"
    at.switch_page("pages/image.py").run()
    assert not at.exception and at.selectbox(key="image_sample").value == "coffee"


def test_an_upload_comes_back_after_a_page_switch_and_goes_when_removed(at):
    from tests.conftest import sample_image
    from PIL import Image

    data = encode(Image.fromarray(sample_image("astronaut")[:64, :64]), "PNG")
    at.radio(key="image_source").set_value("Upload").run()
    at.file_uploader(key="image_upload").set_value(("mine.png", data, "image/png")).run()
    digest = hashlib.sha256(data).hexdigest()[:16]

    def explained() -> list[str]:  # the class chooser is keyed by the model and the image's id
        return [s.key for s in at.selectbox if s.key.startswith("target:")]

    assert not at.exception and explained() == [f"target:efficientnet-lite0:{digest}"]
    at.switch_page("pages/report.py").run()
    at.switch_page("pages/image.py").run()
    assert not at.exception
    assert at.radio(key="image_source").value == "Upload"
    assert any("earlier upload" in c.value and "mine" in c.value for c in at.caption)
    assert explained() == [f"target:efficientnet-lite0:{digest}"]
    at.run()  # a rerun on the page keeps it
    assert explained() == [f"target:efficientnet-lite0:{digest}"]

    at.file_uploader(key="image_upload").set_value(("mine.png", data, "image/png")).run()
    at.file_uploader(key="image_upload").set_value(None).run()  # the user removes the file: it is forgotten
    assert not at.exception and explained() == []
    assert any("Upload an image" in i.value for i in at.info)


def test_the_report_is_saved_and_comes_back_in_a_new_session(at):
    import_items(at, ["occlusion", "gradient"], title="my findings")
    report_id = at.query_params["report"]
    wait_for_saved(report_id)  # written by a thread of the server (this process)
    assert saved.valid_id(report_id) and saved.load(report_id) is not None
    at.button(key="report_down:0").click().run()  # reordered: saved again

    again = fresh({"report": report_id})
    again.switch_page("pages/report.py").run()
    assert not again.exception
    assert item_lines(again) == ["1. gradient for positive — m", "2. occlusion for positive — m"]
    assert again.text_input(key="report_title").value == "my findings"


def test_a_missing_or_damaged_saved_report_is_a_sentence():
    report_id = saved.new_id()
    missing = fresh({"report": report_id})
    assert any("No report is saved under this link" in i.value for i in missing.info)

    Path(saved.folder() / f"{report_id}.zip").write_bytes(b"this is no zip")
    damaged = fresh({"report": report_id})
    assert not damaged.exception
    assert any("could not be read" in w.value for w in damaged.warning)

    bad = fresh({"report": "../../etc/passwd"})
    assert not bad.exception and any("was ignored" in c.value for c in bad.caption)


def test_saved_reports_are_bounded_oldest_first(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_REPORTS_DIR", str(tmp_path))
    ids = [saved.new_id() for _ in range(4)]
    evicted = []
    for age, report_id in zip((40, 30, 20, 10), ids):
        evicted += saved.save(report_id, b"x" * 10, max_reports=3)
        os.utime(tmp_path / f"{report_id}.zip", (time.time() - age,) * 2)
    assert evicted == ids[:1] and saved.load(ids[0]) is None and saved.load(ids[-1]) == b"x" * 10
    assert saved.save(ids[-1], b"y" * 100, max_reports=3, max_bytes=50) == ids[1:3]  # the one saved stays


def test_clearing_the_report_asks_first(at):
    import_items(at, ["occlusion"])
    at.button(key="report_clear").click().run()
    assert len(item_lines(at)) == 1 and any("cannot be undone" in w.value for w in at.warning)
    at.button(key="report_clear_no").click().run()
    assert len(item_lines(at)) == 1
    at.button(key="report_clear").click().run()
    at.button(key="report_clear_yes").click().run()
    assert not at.exception and not item_lines(at)
    assert any("report is empty" in i.value for i in at.info)
    wait_for_saved(at.session_state["report_id"])
    assert saved.load(at.session_state["report_id"]) is None  # an emptied report's file is removed


def test_a_shared_image_view_opens_the_same_choices():
    view = {"model": "efficientnet-lite0", "sample": "astronaut", "class": "3", "methods": "grad-cam,saliency"}
    at = fresh(view)
    assert at.selectbox(key="image_sample").value == "astronaut"
    chosen = [m for box in at.multiselect if box.key.startswith("methods:") for m in box.value]
    assert sorted(chosen) == ["grad-cam", "saliency"]
    target = next(s for s in at.selectbox if s.key.startswith("target:"))
    assert target.value == 3
    assert any("Opened from a link" in i.value and "Run" in i.value for i in at.info)
    url = {k: at.query_params[k] for k in view}  # the page writes the view it shows back into the URL
    assert sorted(url.pop("methods").split(",")) == ["grad-cam", "saliency"]
    assert url == {"model": "efficientnet-lite0", "sample": "astronaut", "class": "3"}


def test_a_shared_view_carries_the_methods_parameters():
    view = {"model": "efficientnet-lite0", "sample": "coffee", "methods": "rise,grad-cam", "rise.n_masks": "300",
            "rise.p": "0.3", "grad-cam.layer": "blocks.5"}
    at = fresh(view)
    assert not at.exception
    assert at.number_input(key="param:rise:n_masks").value == 300
    assert at.number_input(key="param:rise:p").value == pytest.approx(0.3)
    assert at.selectbox(key="param:grad-cam:layer:efficientnet-lite0").value == "blocks.5"
    assert at.query_params["rise.n_masks"] == "300" and at.query_params["grad-cam.layer"] == "blocks.5"
    at.number_input(key="param:rise:n_masks").set_value(500).run()  # the URL follows the page
    assert at.query_params["rise.n_masks"] == "500"
    bad = fresh({"model": "efficientnet-lite0", "methods": "rise", "rise.n_masks": "-4", "rise.nope": "1",
                 "grad-cam.layer": "no.such"})
    note = next(i.value for i in bad.info if "Opened from a link" in i.value).replace("\\", "")  # markdown escapes
    assert "rise.n_masks" in note and "outside" in note and "rise.nope" in note and "no such parameter" in note
    assert "grad-cam.layer" in note and "not a layer" in note
    assert not bad.exception and bad.number_input(key="param:rise:n_masks").value == 1000  # the default stands


def test_a_shared_text_view_opens_the_same_choices():
    from models.inputs.text_samples import TEXT_SAMPLES

    sample = list(TEXT_SAMPLES)[1]
    view = {"sample": sample, "class": "positive", "methods": "integrated-gradients,saliency",
            "integrated-gradients.n_steps": "16"}
    app = AppTest.from_file(APP, default_timeout=300)
    for name, value in view.items():
        app.query_params[name] = value
    app.switch_page("pages/text.py").run()
    assert not app.exception and app.selectbox(key="text_sample").value == sample
    assert sorted(app.multiselect(key="text_methods").value) == ["integrated-gradients", "saliency"]
    assert app.selectbox(key="text_target:minilm-sentiment").value == 1
    assert app.number_input(key="param:integrated-gradients:n_steps").value == 16
    assert any("Opened from a link" in i.value for i in app.info)
    assert app.query_params["class"] == "1" and app.query_params["sample"] == sample


def test_unknown_view_values_are_ignored_with_a_note():
    at = fresh({"model": "efficientnet-lite0", "sample": "nope", "class": "zebra-unicorn", "methods": "grad-cam,x"})
    note = next(i.value for i in at.info if "Opened from a link" in i.value)
    assert "nope" in note and "zebra" in note and "x is not available" in note
    chosen = [m for box in at.multiselect if box.key.startswith("methods:") for m in box.value]
    assert chosen == ["grad-cam"]


def test_saving_a_report_says_which_older_reports_went(at, tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_REPORTS_DIR", str(tmp_path))
    monkeypatch.setattr(saved, "MAX_SAVED_REPORTS", 2)
    older = [saved.new_id() for _ in range(2)]
    for age, report_id in zip((200, 100), older):  # saved 200 s and 100 s ago
        saved.save(report_id, b"older")
        stamp = time.time() - age
        os.utime(tmp_path / f"{report_id}.zip", (stamp, stamp))
    import_items(at, ["occlusion"])
    wait_for_saved(at.session_state["report_id"])
    at.run()  # the next run says what the save let go
    assert any("last 2 saved reports" in c.value and "oldest 1 was let go" in c.value for c in at.caption)
    assert saved.load(older[0]) is None and saved.load(older[1]) == b"older"
