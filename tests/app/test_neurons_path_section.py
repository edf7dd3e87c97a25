"""The Neurons page's neuron-path section (pages/neurons_path.py) on the digits ViT: estimate, Run, the path
table, one activation map per block, the ablation figure, Add to report; and a CNN is told it does not apply."""

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow  # loads the embedded digits ViT


def _vit_script():
    from models import load_model
    from models.embedded.digits_vit import digit_images
    from pages.neurons_path import section

    images, _ = digit_images("test")
    section(load_model("vit-digits", device="cpu"), images[0])


def _cnn_script():
    from pages.neurons_path import section
    from tests.tiny_models import random_image, small_cnn

    section(small_cnn(), random_image(16))


def test_the_section_runs_the_search_and_shows_path_maps_and_ablation():
    at = AppTest.from_function(_vit_script, default_timeout=300)
    at.run()
    assert not at.exception
    assert any("forward" in c.value for c in at.caption)  # the estimate, before Run
    assert any("Press **Run**" in i.value for i in at.info)
    at.number_input(key="param:neuron-path:n_steps").set_value(4)
    at.number_input(key="param:neuron-path:candidates").set_value(4)
    at.button(key="neurons_path:run").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["block"]) == [0, 1, 2] and list(table["step"]) == [1, 2, 3]
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # three activation maps and the ablation figure
    assert any("3 forward" not in c.value and "backward" in c.value for c in at.caption)
    at.button(key="add_report:neurons:path").click()
    at.run()
    assert not at.exception
    assert len(at.session_state["report_items"]) == 1


def test_a_cnn_is_told_the_section_does_not_apply():
    at = AppTest.from_function(_cnn_script, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("vision transformers" in i.value for i in at.info)
