"""The report flow through AppTest: add from the image and compare pages, reorder, export buttons, import a bundle."""

import numpy as np
import pytest

from explainers import Explanation
from reports.bundle import write_bundle
from reports.report import ModelIdentity, ReportItem, new_report


def item_lines(at) -> list[str]:
    return [t.value for t in at.text if t.value[:1].isdigit()]


@pytest.mark.slow  # an embedded model on every method of a page: seconds to minutes
def test_add_from_pages_reorder_and_import(at):
    at.button(key="run").click().run()
    at.button(key="add_report:image:grad-cam").click().run()
    assert not at.exception
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="compare_methods:image").set_value(["grad-cam"]).run()
    at.button(key="compare_run").click().run()
    at.button(key="add_report:compare:random").click().run()
    at.switch_page("pages/report.py").run()
    assert not at.exception
    lines = item_lines(at)
    assert lines == ["1. grad-cam for Egyptian cat — efficientnet-lite0 · chelsea (cat)",  # the sample's name
                     "2. random for Egyptian cat — efficientnet-lite0 · chelsea (cat)"]  # Compare names it too
    at.button(key="report_down:0").click().run()
    assert item_lines(at)[0].startswith("1. random")
    assert len(at.get("download_button")) == 3
    e = Explanation(scores=np.array([0.5, -0.25], dtype=np.float32), method="occlusion", modality="text", model="m",
                    target=1, target_label="positive", tokens=["good", "<script>"])
    bundle = write_bundle(new_report("imported", [ReportItem(e, "good <script>", ModelIdentity("m"))]))
    at.file_uploader(key="report_import").set_value(("r.zip", bundle, "application/zip")).run()
    assert not at.exception and not at.error
    assert item_lines(at)[-1] == "3. occlusion for positive — m"
    at.button(key="report_remove:0").click().run()
    assert len(item_lines(at)) == 2


def test_bad_bundle_is_a_sentence(at):
    at.switch_page("pages/report.py").run()
    at.file_uploader(key="report_import").set_value(("r.zip", b"not a zip", "application/zip")).run()
    assert not at.exception
    assert at.error and "zip" in at.error[0].value.lower()


def _image_item(method: str, side: int) -> ReportItem:
    e = Explanation(scores=np.zeros((side, side), dtype=np.float32), method=method, modality="image", model="m")
    return ReportItem(e, np.zeros((side, side, 3), dtype=np.uint8), ModelIdentity("m"))


def test_report_is_bounded_in_items_and_bytes_and_says_what_went(at, monkeypatch):
    from pages import widgets

    at.switch_page("pages/report.py").run()
    monkeypatch.setattr(widgets, "MAX_REPORT_ITEMS", 3)
    small = write_bundle(new_report("small", [_image_item(f"m{i}", 8) for i in range(5)]))
    at.file_uploader(key="report_import").set_value(("a.zip", small, "application/zip")).run()
    assert not at.exception and [line.split(".")[1].split()[0] for line in item_lines(at)] == ["m2", "m3", "m4"]
    assert any("at most 3 items" in w.value and "oldest 2 (m0, m1) were dropped" in w.value for w in at.warning)

    monkeypatch.setattr(widgets, "MAX_REPORT_MB", 1)
    side = 300  # 300 × 300 × (3 + 4) bytes ≈ 0.6 MB an item: one fits in 1 MB, two do not
    big = write_bundle(new_report("big", [_image_item("big0", side), _image_item("big1", side)]))
    at.file_uploader(key="report_import").set_value(("b.zip", big, "application/zip")).run()
    assert not at.exception and [line.split(".")[1].split()[0] for line in item_lines(at)] == ["big1"]
    assert any("1 MB" in w.value and "oldest 4" in w.value for w in at.warning)


def test_adding_to_the_report_runs_the_model_no_more_than_a_rerun(at):
    """The page passes the prediction it has: upload → report does not run the model again (counted in passes)."""
    from pages.widgets import cached_model

    model = cached_model("efficientnet-lite0")  # the page's model: Streamlit's resource cache is per process
    at.button(key="run").click().run()
    before = model.n_forward, model.n_backward
    at.run()
    rerun = model.n_forward - before[0], model.n_backward - before[1]
    before = model.n_forward, model.n_backward
    at.button(key="add_report:image:grad-cam").click().run()
    assert not at.exception and len(at.session_state["report_items"]) == 1
    assert (model.n_forward - before[0], model.n_backward - before[1]) == rerun
    assert at.session_state["report_items"][0].prediction[0][1] == "Egyptian cat"
