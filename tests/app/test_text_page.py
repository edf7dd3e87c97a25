"""The text page through Streamlit's AppTest: sample, run, highlighting, toggle, bad input, upload."""

import pytest


@pytest.fixture
def text_page(at):
    at.switch_page("pages/text.py").run()
    assert not at.exception
    return at


def markdown_html(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_run_integrated_gradients_shows_highlighted_tokens(text_page):
    at = text_page
    assert at.selectbox(key="text_target:minilm-sentiment").value == 0  # negative is the top class
    at.button(key="text_run").click().run()
    assert not at.exception and not at.error
    html = markdown_html(at)
    assert 'class="lumen-token"' in html and "awful" in html
    assert any("integrated-gradients for **negative**" in c.value for c in at.caption)
    assert any("comprehensiveness AOPC" in c.value for c in at.caption)
    assert any("text_bar:integrated-gradients" in chart.proto.id for chart in at.get("plotly_chart"))
    at.radio(key="text_granularity").set_value("word").run()
    assert not at.exception and 'class="lumen-token"' in markdown_html(at)


def test_occlusion_cost_counts_this_texts_tokens(text_page, minilm):
    from explainers.core.modality import faithfulness_passes

    at = text_page
    at.multiselect(key="text_methods").set_value(["occlusion"]).run()
    key = next(t.key for t in at.text_area)
    for text, n_tokens in (("great", 1), ("the food was great and the staff were kind", 9)):
        at.text_area(key=key).set_value(text).run()
        n_faith = faithfulness_passes(minilm, text)  # its faithfulness figures' passes, counted in the estimate
        assert n_faith > 0
        assert any(f"Estimated cost: {n_tokens + 1 + n_faith} forward + 0 backward" in c.value for c in at.caption)


def test_user_text_is_escaped(text_page):
    at = text_page
    key = next(t.key for t in at.text_area)
    at.text_area(key=key).set_value("<script>alert(1)</script> great & <b>bold</b>").run()
    at.button(key="text_run").click().run()
    html = markdown_html(at)
    assert "<script>" not in html and "<b>" not in html and "&lt;" in html and "&amp;" in html and "alert" in html


def test_empty_and_long_text(text_page):
    at = text_page
    key = next(t.key for t in at.text_area)
    at.text_area(key=key).set_value("   ").run()
    assert any("empty" in e.value for e in at.error) and not at.exception
    at.text_area(key=key).set_value("nice " * 20_000).run()
    assert any("were kept" in w.value for w in at.warning)


def test_upload_txt(text_page):
    at = text_page
    at.file_uploader(key="text_upload").upload("review.txt", "Dreadful, boring and far too long.".encode(), "text/plain").run()
    assert not at.exception
    assert any("Dreadful" in t.value for t in at.text_area)


def test_a_long_text_is_read_whole_by_windows_or_its_unread_tail_is_greyed(text_page):
    at = text_page
    key = next(t.key for t in at.text_area)
    long = "The first hour is slow and the plot drags on and on. " * 50 + "But the ending is brilliant, I loved it."
    at.text_area(key=key).set_value(long).run()
    at.multiselect(key="text_methods").set_value(["gradient-x-input"]).run()
    assert not at.exception and not at.warning and any("reads at most 256 at once" in i.value for i in at.info)
    assert at.radio(key="text_long").value.startswith("the whole text")  # read whole by default
    assert any("windows of up to 254 tokens" in c.value for c in at.caption)
    assert "mean of" in markdown_html(at)  # the prediction is the windows' mean
    at.button(key="text_run").click().run()
    assert not at.exception and not at.error
    html = markdown_html(at)
    assert "brilliant" in html and "lumen-unread" not in html
    assert any("Read by" in c.value and "windows of 254 tokens" in c.value for c in at.caption)
    at.radio(key="text_long").set_value(at.radio(key="text_long").options[1]).run()
    at.button(key="text_run").click().run()
    assert not at.exception and not at.error
    assert any("were kept" in w.value for w in at.warning)
    html = markdown_html(at)
    assert "lumen-unread" in html and "were not read by the model" in html
    assert any("comprehensiveness AOPC" in c.value for c in at.caption)
