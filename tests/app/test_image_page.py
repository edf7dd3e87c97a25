"""The image page through Streamlit's AppTest: samples, uploads, bad files, the Run flow."""

import numpy as np
import pytest
from PIL import Image

from models.inputs.images import MAX_PIXELS
from tests.conftest import encode


def heatmap_charts(app) -> int:
    return sum(1 for chart in app.get("plotly_chart") if "-heatmap:" in chart.proto.id)


def caption_texts(app) -> str:
    return "\n".join(c.value for c in app.caption)


def test_sample_run_shows_heatmap(at):
    at.selectbox(key="image_sample").set_value("coffee").run()
    target = at.selectbox(key="target:efficientnet-lite0:sample:coffee")
    assert target.value == 967  # top-1 preselected: espresso
    assert not heatmap_charts(at)
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    assert heatmap_charts(at) == 1
    assert "grad-cam for **espresso**" in caption_texts(at)
    assert "device cpu" in caption_texts(at)


def test_other_target_class(at):
    at.selectbox(key="target:efficientnet-lite0:sample:chelsea (cat)").set_value(967).run()
    at.button(key="run").click().run()
    assert "grad-cam for **espresso**" in caption_texts(at)


def test_device_in_sidebar(at):
    assert any("Device: **cpu" in c.value for c in at.sidebar.caption)


def upload(at, name: str, data: bytes, mime: str = "image/png"):
    at.radio(key="image_source").set_value("Upload").run()
    at.file_uploader[0].set_value((name, data, mime)).run()


def test_upload_and_run(at, chelsea):
    upload(at, "cat.jpg", encode(Image.fromarray(chelsea), "JPEG", quality=92), "image/jpeg")
    assert not at.error
    at.button(key="run").click().run()
    assert heatmap_charts(at) == 1 and "Egyptian cat" in caption_texts(at)


def _bomb() -> bytes:
    side = int(np.sqrt(MAX_PIXELS)) + 100
    return encode(Image.new("1", (side, side)), "PNG")


def _truncated() -> bytes:
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8)), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"just some text, not pixels\n" * 10, "not an image"),
        ("cut.jpg", None, "truncated or corrupt"),
        ("bomb.png", None, "50 megapixels"),
    ],
)
def test_bad_uploads_give_one_sentence_and_the_session_goes_on(at, name, data, message):
    data = {"cut.jpg": _truncated, "bomb.png": _bomb}.get(name, lambda: data)()
    upload(at, name, data)
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    # the session keeps working: back to a sample, explain it
    at.radio(key="image_source").set_value("Sample").run()
    at.button(key="run").click().run()
    assert not at.error and heatmap_charts(at) == 1


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (40, 30), 128),
        Image.new("RGBA", (40, 30), (200, 10, 10, 120)),
        Image.new("CMYK", (40, 30), (0, 200, 200, 0)),
        Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16)),
        Image.new("RGB", (1, 1), (5, 100, 200)),
    ],
    ids=["grey", "rgba", "cmyk", "16bit", "1x1"],
)
def test_unusual_images_get_a_heatmap(at, image):
    upload(at, "odd.tiff", encode(image, "TIFF"), "image/tiff")
    assert not at.error
    at.button(key="run").click().run()
    assert not at.error and not at.exception and heatmap_charts(at) == 1


def test_parameter_widgets_carry_the_registry_limits_and_the_memory_estimate_is_shown(at):
    from explainers import get_method

    at.multiselect(key="methods:perturbation").set_value(["rise"]).run()
    spec = get_method("rise", "image")
    for name in ("n_masks", "grid", "p", "seed"):
        widget = at.number_input(key=f"param:rise:{name}")
        assert (widget.min, widget.max) == spec.limits[name], name
    assert "Estimated peak memory: about" in caption_texts(at)


def test_gradient_cams_chosen_together_share_one_pass(at):
    at.selectbox(key="image_sample").set_value("coffee").run()
    at.multiselect(key="methods:cam").set_value(["grad-cam", "hires-cam", "layer-cam"]).run()
    assert "Estimated cost: 1 forward + 1 backward passes" in caption_texts(at)  # counted once, as they run
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    assert heatmap_charts(at) == 3
    captions = caption_texts(at)
    assert "1 forward + 1 backward (one layer gradients pass, shared with hires-cam, layer-cam)" in captions
    assert captions.count("0 forward + 0 backward (shares grad-cam's layer gradients pass)") == 2


def test_clip_slider_sets_the_maps_scale_and_the_report_keeps_it(at):
    import json

    def colour_bar_title():
        chart = next(c for c in at.get("plotly_chart") if "-heatmap:" in c.proto.id)
        return json.loads(chart.proto.spec)["data"][1]["colorbar"]["title"]["text"]

    at.button(key="run").click().run()
    slider = at.slider(key="clip_percentile")
    assert slider.value == 99 and "Captum" in slider.help
    assert "relevance to Egyptian cat" in colour_bar_title() and "99th percentile" in colour_bar_title()
    slider.set_value(100.0).run()
    assert not at.exception and "not clipped" in colour_bar_title()
    at.button(key="add_report:image:grad-cam").click().run()
    item = at.session_state["report_items"][-1]
    assert item.view_options["image_overlay"]["percentile"] == 100
