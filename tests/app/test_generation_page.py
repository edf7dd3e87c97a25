"""The generation page through AppTest: run, heatmap, faithfulness, empty prompt."""

import pytest


@pytest.fixture
def gen(at):
    at.switch_page("pages/generation.py").run()
    assert not at.exception
    return at


def test_given_target_run_shows_heatmap_and_faithfulness(gen):
    gen.radio(key="gen_mode").set_value("Given target").run()
    gen.button(key="gen_run").click().run()
    assert not gen.exception and not gen.error
    charts = [c.proto.id for c in gen.get("plotly_chart")]
    assert any("gen-heatmap:occlusion" in c for c in charts) and any("gen-bars:occlusion" in c for c in charts)
    captions = "\n".join(c.value for c in gen.caption)
    assert "Soft-NS" in captions and "Soft-NC" in captions
    assert any("' Paris'" in m.value for m in gen.markdown)


def test_empty_prompt_gives_a_sentence(gen):
    gen.text_area(key="gen_prompt").set_value("   ").run()
    assert not gen.exception
    assert any("empty" in e.value for e in gen.error)
