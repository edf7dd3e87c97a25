"""Text classification page: type, upload or pick a text, see the model's classes, explain one with many methods."""

from functools import partial

import streamlit as st

from explainers import default_method, explain, faithfulness, get_method, input_sizes, methods_for
from explainers.core.cost import estimate, estimate_sentence, forward_seconds
from explainers.core.modality import faithfulness_passes
from explainers.metrics.text import REMOVAL_WORDS
from explainers.text.windows import explain_windows, window_prediction
from models.inputs.language import language_note
from models.inputs.text_samples import TEXT_SAMPLES
from models.units import duration
from pages.widgets import (
    TEXT_VIEW,
    Stage,
    app_runs_first,
    add_to_report,
    choose_text,
    choose_text_model,
    faithfulness_option_widgets,
    long_text_windows,
    memory_caption,
    open_view,
    method_params,
    plain,
    plain_sentence,
    run_stages,
    show_error,
    view_choices,
    write_view,
)
from reports.figures import renderer
from reports.figures.token_highlight import token_html

app_runs_first()

st.title("Text classification")

open_view(TEXT_VIEW)  # a shared link's view (?sample=…&class=…&methods=…)
model = choose_text_model()
text = choose_text()

try:
    encoding = model.encode(text)  # the text is tokenised once, here, for the page and every method
    windows = None
    if encoding.warning:  # longer than the model reads: the whole text by windows, or its first part (warned)
        windows = long_text_windows(model, encoding)
        if windows is None:
            st.warning(plain_sentence(encoding.warning))
    prediction = window_prediction(model, windows) if windows else model.predict(encoding)
except Exception as exc:  # noqa: BLE001 - empty text etc. become a sentence
    show_error(exc)
    st.stop()
if note := language_note(encoding.text, model.language):  # a guess, never a gate (models/inputs/language.py)
    st.info(plain_sentence(note), icon=":material/translate:")

st.markdown("**Predictions**" + (f" (the mean of {len(windows)} windows' probabilities)" if windows else ""))
st.plotly_chart(renderer("top_classes").figure(prediction.top(min(5, len(model.labels)))), width="stretch",
                key="text_top")
top1 = prediction.top(1)[0][0]
offered = [m.id for m in methods_for(model)]
view_choices(TEXT_VIEW, model, f"text_target:{model.name}", {"text_methods": offered})
target = st.selectbox(
    "Class to explain",
    options=range(len(model.labels)),
    index=top1,
    format_func=lambda i: f"{model.labels[i]} — {prediction.probs[i]:.1%}",
    key=f"text_target:{model.name}",
)

st.subheader("Methods")
methods = st.multiselect("Methods", offered, default=[default_method(model)], key="text_methods")
chosen = {m: method_params(get_method(m, model.modality), model) for m in methods}
sample = st.session_state.get("text_sample")
write_view(TEXT_VIEW, model.name if st.session_state.get("text_model_source", "Embedded") == "Embedded" else None,
           sample if sample in TEXT_SAMPLES and text.strip() == TEXT_SAMPLES[sample].strip() else None, target, chosen)
if not chosen:
    st.info("Choose at least one method.")
    st.stop()
try:
    sizes = input_sizes(model, windows[0] if windows else encoding)  # what the estimates read (the spec's sizes)
    costs = {m: tuple(c * len(windows or [0]) for c in estimate(model, m, p, **sizes)) for m, p in chosen.items()}
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
with st.expander("Faithfulness figures"):
    figure_options = faithfulness_option_widgets(model.modality, key="text_faithfulness")
    if windows:
        st.caption("Measured on texts the model reads whole: not for a text read by windows.")
# each method's faithfulness figures: passes of their own, after its explanation (none for a text read by windows)
n_faith = 0 if windows else faithfulness_passes(model, encoding, target, **figure_options)
faith_s = forward_seconds(model, n_faith, **sizes)
figures_cost = {"faithfulness": (n_faith * len(chosen), 0, faith_s * len(chosen))} if n_faith else {}
st.caption(estimate_sentence({**costs, **figures_cost}, model.device_description, "shap's is an upper bound"))
memory_caption(model, chosen, **sizes)

result_key = (model.name, encoding.text, target, windows and (len(windows), windows[1].offsets[1]))
results = st.session_state.get("text_results")
if results is None or results["key"] != result_key:
    results = st.session_state["text_results"] = {"key": result_key, "explanations": {}}

if st.button("Run", type="primary", key="text_run"):
    # one bar over each method's passes and then its faithfulness figures' (weighted by their estimated seconds)
    made = {}

    def explain_one(progress, method_id, params):
        if windows:  # the figures delete tokens from one input the model reads whole: not measured over windows
            e = explain_windows(model, encoding, method_id, target, windows=windows, progress=progress, **params)
            results["explanations"][method_id] = e
        else:
            made[method_id] = explain(model, encoding, method=method_id, target=target, progress=progress, **params)

    def measure_one(progress, method_id):
        if method_id in made:
            faithfulness(model, encoding, made[method_id], progress=progress, **figure_options)  # e.faithfulness
            results["explanations"][method_id] = made[method_id]

    stages = []
    for method_id, params in chosen.items():
        stages.append(Stage(method_id, costs[method_id][2], partial(explain_one, method_id=method_id, params=params)))
        if n_faith:
            stages.append(Stage(f"faithfulness of {method_id}", faith_s, partial(measure_one, method_id=method_id)))
    run_stages(stages, key="text_cancel")

shown = {m: e for m, e in results["explanations"].items() if m in chosen}
if not shown:
    st.info("Choose a class and methods, then press **Run**.")
    st.stop()

per_word = st.radio("Scores per", ["token", "word"], horizontal=True, key="text_granularity") == "word"
for method_id, e in shown.items():
    signed = e.signed
    st.markdown(f"#### {method_id} for **{plain(e.target_label)}**")
    left, right = st.columns([3, 2])
    with left:
        st.markdown(token_html(encoding.text, e, per_word=per_word), unsafe_allow_html=True)
        st.caption(
            f"{method_id} for **{plain(e.target_label)}** · {duration(e.runtime_s)} · {e.n_forward} forward + "
            f"{e.n_backward} backward · device {e.device}"
            + ("" if signed else " · unsigned (magnitude only)")
        )
        if "windows" in e.extras:
            w = e.extras["windows"]
            st.caption(f"Read by {w['count']} windows of {w['length']} tokens; each token's score is the sum of its "
                       "windows' scores over the number of windows (the attribution of their mean output). "
                       "Faithfulness figures are measured on texts the model reads whole.")
        if "completeness" in e.extras:
            st.caption(f"Completeness error: {e.extras['completeness']['relative_error']:.2%}")
        f = e.faithfulness
        if f:
            st.caption(
                f"Faithfulness (top tokens {REMOVAL_WORDS.get(f.get('removal'), 'removed')}, DeYoung et al. 2020) — "
                f"comprehensiveness AOPC **{f['aopc_comprehensiveness']:.3f}** (higher is better) · "
                f"sufficiency AOPC **{f['aopc_sufficiency']:.3f}** (lower is better)"
            )
    with right:
        st.plotly_chart(renderer("ranked_bars").figure(e, per_word=per_word, title="Top tokens"), width="stretch",
                        key=f"text_bar:{method_id}")
        upload = st.session_state.get("text_upload")  # an uploaded file is named by its file name
        add_to_report(model, encoding.text, e, key=f"text:{method_id}", prediction=prediction,
                      input_name=getattr(upload, "name", None))
