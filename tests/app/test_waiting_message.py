"""A page's progress bar says when its run waits for another run on the same model, and about how long
(issue 14, finding 4): a Grad-CAM queued behind a whole run (what a method with hooks holds)."""

import re

from streamlit.testing.v1 import AppTest


def _script():
    import threading

    import streamlit as st

    from explainers import explain
    from tests.tiny_models import random_image, small_cnn
    from pages.widgets import run_each

    model, image = small_cnn(16), random_image(16)
    texts = st.session_state.setdefault("texts", [])
    holding, release = threading.Event(), threading.Event()
    real_progress = st.progress

    class Recording:  # the bar run_each draws, remembering every text it shows
        def __init__(self, bar):
            self.bar = bar

        def progress(self, value, text=None):
            texts.append(text)
            if text and "Waiting" in text:
                release.set()  # the other run ends once this one was told
            return self.bar.progress(value, text=text)

        def empty(self):
            return self.bar.empty()

    def long_hooked_run():
        with model.lock.hold(estimate_s=90.0):
            holding.set()
            release.wait(60)

    st.progress = lambda *args, **kwargs: Recording(real_progress(*args, **kwargs))
    try:
        other = threading.Thread(target=long_hooked_run)
        other.start()
        holding.wait(60)
        run_each({"grad-cam": {}}, lambda method_id, params, progress: st.session_state.__setitem__(
            "result", explain(model, image, method=method_id, target=0, progress=progress, **params)), key="run")
        other.join(60)
    finally:
        st.progress = real_progress


def test_the_progress_bar_says_the_run_waits_for_another_and_about_how_long():
    at = AppTest.from_function(_script, default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    waiting = [t for t in at.session_state["texts"] if t and "Waiting" in t]
    assert len(waiting) == 1
    match = re.fullmatch(r"grad-cam: Waiting for another run on this model \(about (\d+) s\)…", waiting[0])
    assert match and 60 <= int(match.group(1)) <= 90
    assert at.session_state["result"].n_forward == 1  # and then it ran
