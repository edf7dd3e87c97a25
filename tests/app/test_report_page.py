"""The report flow through AppTest: add from the image and compare pages, reorder, export buttons, import a bundle."""

import numpy as np

from explainers import Explanation
from reports.bundle import write_bundle
from reports.report import ModelIdentity, ReportItem, new_report


def item_lines(at) -> list[str]:
    return [t.value for t in at.text if t.value[:1].isdigit()]


def test_add_from_pages_reorder_and_import(at):
    at.button(key="run").click().run()
    at.button(key="add_report:image:grad-cam").click().run()
    assert not at.exception
    at.switch_page("views/compare.py").run()
    at.multiselect(key="compare_methods:image").set_value(["grad-cam"]).run()
    at.button(key="compare_run").click().run()
    at.button(key="add_report:compare:random").click().run()
    at.switch_page("views/report.py").run()
    assert not at.exception
    lines = item_lines(at)
    assert lines == ["1. grad-cam for Egyptian cat — efficientnet-lite0 · sample:chelsea (cat)",
                     "2. random for Egyptian cat — efficientnet-lite0"]
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
    at.switch_page("views/report.py").run()
    at.file_uploader(key="report_import").set_value(("r.zip", b"not a zip", "application/zip")).run()
    assert not at.exception
    assert at.error and "zip" in at.error[0].value.lower()
