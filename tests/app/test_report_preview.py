"""The report page's preview: a srcdoc frame holding a sandboxed frame (an opaque origin) of the escaped report,
hostile strings as text."""
from html.parser import HTMLParser

import numpy as np

from explainers import Explanation
from pages.widgets import plain
from reports.bundle import write_bundle
from reports.report import ModelIdentity, ReportItem, new_report

SCRIPT = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(1)>'


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self._script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._script = tag == "script"

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if not self._script:
            self.text.append(data)


def test_the_preview_is_a_sandboxed_srcdoc_frame_of_the_escaped_report(at):
    at.switch_page("pages/report.py").run()
    e = Explanation(scores=np.array([0.5, -0.25, 0.125], dtype=np.float32), method="occlusion", modality="text",
                    model="m" + ATTR, target=1, target_label="positive" + ATTR, tokens=["good", SCRIPT, ATTR])
    item = ReportItem(e, f"good {SCRIPT} {ATTR}", ModelIdentity("m" + ATTR, "hand-made " + SCRIPT),
                      input_name="review" + ATTR)
    bundle = write_bundle(new_report("Title " + SCRIPT, [item]))
    at.file_uploader(key="report_import").set_value((f"r{ATTR}.zip", bundle, "application/zip")).run()
    assert not at.exception and not at.error
    assert at.success[0].value == f"Imported 1 items from {plain(f'r{ATTR}.zip')}."  # the file name as text

    frames = [el for el in at.main if getattr(el, "proto", None) is not None and hasattr(el.proto, "srcdoc")
              and el.proto.srcdoc]
    assert len(frames) == 1 and not frames[0].proto.src  # no data: URL (Chromium blocks large ones)
    outer = _Page()
    outer.feed(frames[0].proto.srcdoc)
    inner = [attrs for tag, attrs in outer.tags if tag == "iframe"]
    assert len(inner) == 1 and not any(tag == "script" for tag, _ in outer.tags)
    # scripts run, but in an opaque origin: never allow-same-origin
    assert inner[0]["sandbox"].split() == ["allow-scripts", "allow-popups"]
    page = inner[0]["srcdoc"]  # the parser unescapes the attribute: the report's own HTML
    assert page.startswith("<!DOCTYPE html>")
    parser = _Page()
    parser.feed(page)
    assert all(not name.startswith("on") for _, attrs in parser.tags for name in attrs)
    assert not any(tag == "img" and not attrs.get("src", "").startswith("data:") for tag, attrs in parser.tags)
    assert all(attrs == {} for tag, attrs in parser.tags if tag == "script")  # only the report's own scripts
    text = "".join(parser.text)
    assert "Title " + SCRIPT in text and "positive" + ATTR in text and "review" + ATTR in text
