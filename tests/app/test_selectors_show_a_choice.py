"""Selectors show what they hold, never Streamlit's "Choose an option" (an option None is sent to the browser as no
selection at all): the layer selector's "default (<layer>)", the Tables page's "the predicted class"."""

from pages.widgets import DEFAULT_LAYER

KEY = "param:craft:layer:efficientnet-lite0"


def test_layer_selector_shows_the_default_layer(at):
    at.switch_page("pages/concepts.py").run()
    assert not at.exception
    box = at.selectbox(key=KEY)
    assert box.index == 0 and box.value == DEFAULT_LAYER  # a selection: the browser shows its label
    assert box.options[0] == "default (bn2)"  # what the browser shows
    assert "layer (where the activations are read)" == box.label
    assert "blocks.5" in box.options
    box.set_value("blocks.5").run()
    assert not at.exception and not at.error
    assert at.selectbox(key=KEY).value == "blocks.5" and at.selectbox(key=KEY).index == box.options.index("blocks.5")


def test_tables_class_selector_shows_the_predicted_class(at):
    """The same trap on the Tables page: "the predicted class" was the option None, shown as "Choose an option"."""
    at.switch_page("pages/tabular.py").run()
    assert not at.exception
    boxes = [b for b in at.selectbox if str(b.key).startswith("tab_class:")]
    assert len(boxes) == 1, "the default dataset is a classification"
    box = boxes[0]
    assert box.index == 0 and box.options[0] == "the predicted class"
    box.set_value(1).run()
    assert not at.exception and not at.error
    assert [b for b in at.selectbox if str(b.key).startswith("tab_class:")][0].index == 2
