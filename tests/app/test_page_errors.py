"""An unexpected error on a page: one sentence on the page, the traceback in the server log, the session goes on;
Streamlit's own control flow (st.stop, st.rerun, st.switch_page, fragments) passes through untouched."""

import logging
from types import SimpleNamespace

import pytest
from streamlit.errors import FragmentHandledException
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.testing.v1 import AppTest

from pages import widgets
from tests.app.conftest import APP

SECRET = "internal detail at /srv/private/weights.pt"


def test_an_unexpected_error_is_one_sentence_and_the_session_goes_on(monkeypatch, caplog):
    import dataclasses

    import reports.figures

    def broken(*args, **kwargs):
        raise RuntimeError(SECRET)

    top_classes = dataclasses.replace(reports.figures.RENDERERS["top_classes"], plotly=broken)
    monkeypatch.setitem(reports.figures.RENDERERS, "top_classes", top_classes)  # the image page draws its top-5 with it
    at = AppTest.from_file(APP, default_timeout=300)
    with caplog.at_level(logging.ERROR, logger="lumen"):
        at.run()
    assert not at.exception  # no traceback element
    assert len(at.error) == 1
    message = at.error[0].value
    assert "RuntimeError" in message and SECRET not in message and "Traceback" not in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    # the full traceback, with the message, is in the server log under "lumen"
    records = [r for r in caplog.records if r.name == "lumen" and r.exc_info]
    assert records and records[-1].exc_info[0] is RuntimeError
    assert "Traceback" in caplog.text and SECRET in caplog.text and "broken" in caplog.text

    monkeypatch.undo()
    at.selectbox(key="image_sample").set_value(at.selectbox(key="image_sample").options[1]).run()
    assert not at.exception and not at.error
    assert any("top5" in chart.proto.id for chart in at.get("plotly_chart"))
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    assert any("heatmap:grad-cam" in chart.proto.id for chart in at.get("plotly_chart"))


@pytest.mark.parametrize("exc", [StopException(), RerunException(None), FragmentHandledException()])
def test_streamlit_control_flow_is_not_an_error(exc, monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "show_error", shown.append)

    def run():
        raise exc

    with pytest.raises(type(exc)):
        widgets.run_page(SimpleNamespace(run=run))
    assert not shown


def _script():
    from types import SimpleNamespace

    import streamlit as st

    from pages.widgets import run_page

    def body():
        st.session_state["runs"] = st.session_state.get("runs", 0) + 1
        mode = st.session_state.get("mode")
        if mode == "rerun" and st.session_state["runs"] == 1:
            st.rerun()
        if mode == "stop":
            st.stop()
        st.write(f"end of run {st.session_state['runs']}")

    run_page(SimpleNamespace(run=body))


@pytest.mark.parametrize("mode", ["stop", "rerun"])
def test_st_stop_and_st_rerun_work_inside_the_wrapper(mode):
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state["mode"] = mode
    at.run()
    assert not at.exception and not at.error
    shown = [m.value for m in at.markdown]
    if mode == "stop":
        assert shown == [] and at.session_state["runs"] == 1
    else:
        assert shown == ["end of run 2"] and at.session_state["runs"] == 2
