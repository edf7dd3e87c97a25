"""Text classification page: type, upload or pick a text, see the model's classes, explain one with many methods."""

from functools import partial

import streamlit as st

from explainers import default_method, explain, faithfulness, get_method, input_sizes, methods_for
from explainers.core.cost import estimate, pass_times
from explainers.core.modality import faithfulness_passes
from explainers.metrics.text import REMOVAL_WORDS
from models.inputs.language import language_note
from models.units import duration
from pages.widgets import (
    Stage,
    app_runs_first,
    add_to_report,
    choose_text,
    choose_text_model,
    faithfulness_option_widgets,
    memory_caption,
    method_params,
    plain,
    plain_sentence,
    run_stages,
    show_error,
)
from reports.figures import renderer
from reports.figures.token_highlight import token_html

app_runs_first()

st.title("Text classification")

model = choose_text_model()
text = choose_text()

try:
    encoding = model.encode(text)
    prediction = model.predict(encoding)  # the text is tokenised once, here, for the page and every method
except Exception as exc:  # noqa: BLE001 - empty text etc. become a sentence
    show_error(exc)
    st.stop()
if encoding.warning:
    st.warning(plain_sentence(encoding.warning))
if note := language_note(encoding.text, model.language):  # a guess, never a gate (models/inputs/language.py)
    st.info(plain_sentence(note), icon=":material/translate:")

st.markdown("**Predictions**")
st.plotly_chart(renderer("top_classes").figure(prediction.top(min(5, len(model.labels)))), width="stretch",
                key="text_top")
top1 = prediction.top(1)[0][0]
target = st.selectbox(
    "Class to explain",
    options=range(len(model.labels)),
    index=top1,
    format_func=lambda i: f"{model.labels[i]} — {prediction.probs[i]:.1%}",
    key=f"text_target:{model.name}",
)

st.subheader("Methods")
methods = st.multiselect("Methods", [m.id for m in methods_for(model)], default=[default_method(model)],
                         key="text_methods")
chosen = {m: method_params(get_method(m, model.modality), model) for m in methods}
if not chosen:
    st.info("Choose at least one method.")
    st.stop()
try:
    sizes = input_sizes(model, encoding)  # what the estimates read (the modality spec's sizes)
    costs = {m: estimate(model, m, p, **sizes) for m, p in chosen.items()}
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
st.caption(
    f"Estimated cost: {sum(c[0] for c in costs.values())} forward + {sum(c[1] for c in costs.values())} backward "
    f"passes ≈ {duration(sum(c[2] for c in costs.values()))} on {model.device_description} "
    "(passes × measured time per pass; shap's is an upper bound)."
)
memory_caption(model, chosen, **sizes)
with st.expander("Faithfulness figures"):
    figure_options = faithfulness_option_widgets(model.modality, key="text_faithfulness")

result_key = (model.name, encoding.text, target)
results = st.session_state.get("text_results")
if results is None or results["key"] != result_key:
    results = st.session_state["text_results"] = {"key": result_key, "explanations": {}}

if st.button("Run", type="primary", key="text_run"):
    # one bar over each method's passes and then its faithfulness figures' (weighted by their estimated seconds)
    faith_s = faithfulness_passes(model, encoding, target, **figure_options) * pass_times(model)[0]
    made = {}

    def explain_one(progress, method_id, params):
        made[method_id] = explain(model, encoding, method=method_id, target=target, progress=progress, **params)

    def measure_one(progress, method_id):
        if method_id in made:
            faithfulness(model, encoding, made[method_id], progress=progress, **figure_options)  # e.faithfulness
            results["explanations"][method_id] = made[method_id]

    stages = []
    for method_id, params in chosen.items():
        stages.append(Stage(method_id, costs[method_id][2], partial(explain_one, method_id=method_id, params=params)))
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
