"""One progress bar for everything a Run does (issue 17: Generation's Run took 208 s while its method computed in
1.9 s, the generation and the faithfulness passes outside the bar): ``run_stages`` draws one bar whose whole is
known before it starts, never goes back, and says the step that runs, with each step's fixed total."""

import re

from streamlit.testing.v1 import AppTest


def _script():
    from functools import partial

    import streamlit as st

    from explainers import explain, faithfulness
    from pages.widgets import Stage, run_stages
    from tests.tiny_lm import tiny_lm

    model = tiny_lm()
    shown = st.session_state.setdefault("shown", [])
    real_progress = st.progress

    class Recording:  # the bar run_stages draws, remembering every value and text it shows
        def __init__(self, bar):
            self.bar = bar

        def progress(self, value, text=None):
            shown.append((value, text))
            return self.bar.progress(value, text=text)

        def empty(self):
            return self.bar.empty()

    made = {}

    def generate(progress):
        made["target"] = model.generate("w3 w4 w7", 4, progress=progress)
        return made["target"]

    def explain_one(progress, method):
        made[method] = explain(model, "w3 w4 w7", method=method, target=made["target"], progress=progress)
        return made[method]

    def measure(progress, method):
        return faithfulness(model, "w3 w4 w7", made[method], progress=progress)

    def failing(progress):
        raise ValueError("a stage that fails")

    st.progress = lambda *args, **kwargs: Recording(real_progress(*args, **kwargs))
    try:
        stages = [Stage("Generating 4 tokens", 1.0, generate, "tokens")]
        for method in ("occlusion", "integrated-gradients"):
            stages += [Stage(method, 2.0, partial(explain_one, method=method)),
                       Stage(f"faithfulness of {method}", 1.0, partial(measure, method=method))]
        stages.append(Stage("a broken step", 0.5, failing))
        st.session_state["results"] = run_stages(stages, key="run")
    finally:
        st.progress = real_progress


def test_one_bar_over_every_stage_its_whole_fixed_never_back_each_step_named():
    at = AppTest.from_function(_script, default_timeout=120)
    at.run()
    assert not at.exception
    shown = at.session_state["shown"]
    values = [v for v, _ in shown]
    assert values == sorted(values), "the bar went back"
    assert values[-1] == 1.0
    texts = [t for _, t in shown]
    for label in ("Generating 4 tokens", "occlusion", "faithfulness of occlusion", "integrated-gradients",
                  "faithfulness of integrated-gradients"):
        totals = {m.group(1) for t in texts if (m := re.fullmatch(rf"{re.escape(label)}: [\d,]+/([\d,]+) \w+ "
                                                                   r"\(step \d of 6\)", t))}
        assert len(totals) == 1, (label, totals)  # reported, and under one total
    assert any(t.startswith("Generating 4 tokens: 4/4 tokens") for t in texts)
    results = at.session_state["results"]
    assert len(results) == 6 and results[-1] is None and all(r is not None for r in results[:-1])
    assert any("ValueError" in e.value for e in at.error)  # the failing step said its sentence; the others ran
    caption = [c.value for c in at.caption if c.value.startswith("This run took")]
    assert caption and "faithfulness of occlusion" in caption[0]
