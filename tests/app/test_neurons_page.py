"""The Neurons page through AppTest: a CNN's channels kept across a page switch, a ViT handed to its own section,
a language model without readable MLP layers told so."""

import pytest


@pytest.fixture
def neurons(at):
    at.switch_page("pages/neurons.py").run()
    assert not at.exception
    return at


@pytest.mark.slow
def test_channels_run_and_are_kept_across_a_page_switch(neurons):
    at = neurons
    at.number_input(key="neurons_top_k").set_value(4).run()
    at.button(key="neurons_run_channels").click().run()
    assert not at.exception and not at.error
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert sum("neurons_" in c for c in charts) == 3  # weighted map, channel bars, channel maps
    captions = "\n".join(c.value for c in at.caption)
    assert "layer bn2 · gradient-x-activation" in captions and "1 forward + 1 backward" in captions
    at.switch_page("pages/report.py").run()
    at.switch_page("pages/neurons.py").run()
    assert not at.exception
    assert at.number_input(key="neurons_top_k").value == 4
    assert sum("neurons_" in c.proto.id for c in at.get("plotly_chart")) == 3  # shown again, not run again


@pytest.mark.slow
def test_a_vision_transformer_goes_to_the_neuron_path_section(neurons):
    at = neurons
    at.sidebar.selectbox(key="image_model").set_value("vit-digits").run()
    at.selectbox(key="image_sample").set_value("digit 3 (for vit-digits)").run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "neurons_run_channels"]  # no channel section for a ViT
    assert [b for b in at.button if b.key == "neurons_path:run"]  # the neuron path's section instead
    assert any(s.value == "Influential neuron path" for s in at.subheader)


@pytest.mark.slow
def test_the_top_channels_most_activating_crops_over_a_bundled_dataset(neurons):
    at = neurons
    at.number_input(key="neurons_top_k").set_value(2).run()
    at.button(key="neurons_run_channels").click().run()
    at.selectbox(key="neurons_crop_source").set_value("digits").run()
    at.number_input(key="neurons_crop_images").set_value(6).run()
    at.number_input(key="neurons_crop_each").set_value(3).run()
    at.button(key="neurons_find_crops").click().run()
    assert not at.exception and not at.error
    channels = [m.value for m in at.markdown if m.value.startswith("**Channel ")]
    assert len(channels) == 2
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    crops = [c for c in captions if c.split(" · ")[0].endswith(".png")]
    assert len(crops) == 6  # three crops for each of the two channels, each named by its file and activation


@pytest.mark.slow
def test_lm_neurons_joins_compare_on_a_continuation_of_two_tokens(at):
    """lm-neurons' scores are a generation explanation's (rows: continuation tokens), so Compare's agreement takes
    it beside occlusion."""
    from tests.app.test_compare_page import chart_keys, open_page

    open_page(at)
    at.radio(key="compare_modality").set_value("Prompt (generation)").run()
    at.number_input(key="cmp_max_new").set_value(2).run()
    at.multiselect(key="compare_methods:generation").set_value(["occlusion", "lm-neurons"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    keys = chart_keys(at)
    assert "compare_generation_matrix:lm-neurons" in keys and "compare_agreement_matrix" in keys
