"""The layer selector shows what it holds: "default (<layer>)", not Streamlit's "Choose an option" (an option
None was sent to the browser as no selection at all), and another layer can still be chosen."""

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
