"""Compare's "Clip at percentile" slider: shared by every image tile, kept by report items added from the page."""

import json

import pytest


@pytest.mark.slow  # the embedded CNN on Compare's default image metrics: seconds
def test_compare_clip_slider_reaches_every_tile_and_the_report(at):
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="compare_methods:image").set_value(["grad-cam"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error

    def titles():
        return {c.proto.id.rsplit(":", 1)[-1]: json.loads(c.proto.spec)["data"][1]["colorbar"]["title"]["text"]
                for c in at.get("plotly_chart") if "compare_image_overlay:" in c.proto.id}

    assert at.slider(key="compare_clip_percentile").value == 99
    shown = titles()
    assert set(shown) == {"grad-cam", "random"} and all("99th percentile" in t for t in shown.values())
    at.slider(key="compare_clip_percentile").set_value(95.0).run()
    assert not at.exception and all("95th percentile" in t for t in titles().values())
    at.button(key="add_report:compare:grad-cam").click().run()
    assert at.session_state["report_items"][-1].view_options["image_overlay"]["percentile"] == 95
