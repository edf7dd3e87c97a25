"""A model's first-use preparation says its steps (issue 17: the first visit to the Text page took 368 s, the
Generation page's 88 s, with only a sidebar spinner): the loaders report each step through
``models.preparing``, which the pages show in their main area (``pages.widgets.cached_model``)."""

import pytest

from models.embedded import digits_vit
from models.preparing import preparation_reports, step


def test_no_callback_no_report_and_a_callback_hears_every_step():
    step(1, 2, "nobody listens")  # nothing to call: no error
    heard = []
    with preparation_reports(lambda k, n, text, share: heard.append((k, n, text, share))):
        step(1, 2, "first", 0.5)
        step(2, 2, "second", 7.0)
    step(2, 2, "after the block")
    assert heard == [(1, 2, "first", 0.5), (2, 2, "second", 1.0)]


def test_training_the_digits_vit_says_each_epoch_then_the_cache_write_and_a_cached_load_says_nothing(
        tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path))  # a fresh cache: the model is built, as at first use
    recipe = {**digits_vit.RECIPE, "epochs": 2, "depth": 1}
    heard = []
    with preparation_reports(lambda k, n, text, share: heard.append((k, n, text, share))):
        digits_vit.vit_digits(device="cpu", recipe=recipe)
    assert [(k, n) for k, n, _, _ in heard] == [(1, 2), (1, 2), (2, 2)]
    assert "epoch 1 of 2" in heard[0][2] and "epoch 2 of 2" in heard[1][2] and "cache" in heard[2][2]
    assert [share for *_, share in heard[:2]] == [0.0, 0.5]
    heard.clear()
    with preparation_reports(lambda *a: heard.append(a)):
        digits_vit.vit_digits(device="cpu", recipe=recipe)  # from the cache now
    assert heard == []


@pytest.mark.slow
def test_the_page_shows_the_preparation_in_its_main_area_step_by_step(tmp_path):
    from streamlit.testing.v1 import AppTest

    def script():
        import os

        import streamlit as st

        from pages import widgets

        os.environ["LUMEN_CACHE_DIR"] = st.session_state["cache_dir"]
        widgets._server_models.clear()  # as "Clear caches" does: this server has not loaded it yet
        with st.sidebar:  # where the pages choose their model
            st.session_state["model"] = widgets.cached_model("vit-digits")

    import os

    before = os.environ.get("LUMEN_CACHE_DIR")
    at = AppTest.from_function(script, default_timeout=600)
    at.session_state["cache_dir"] = str(tmp_path)
    try:
        at.run()
    finally:
        if before is None:
            os.environ.pop("LUMEN_CACHE_DIR", None)
        else:
            os.environ["LUMEN_CACHE_DIR"] = before
    assert not at.exception
    steps = at.session_state["lumen_preparation_steps"]
    epochs = digits_vit.RECIPE["epochs"]
    assert [s[1:3] for s in steps] == [(1, 2)] * epochs + [(2, 2)]
    assert all(s[0] == "vit-digits" for s in steps)
    assert at.session_state["model"].name == "vit-digits"
    assert not at.status  # the box goes once the model is ready
