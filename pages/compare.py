"""Compare page: one input, one class, many explainers side by side — how faithful each is, how much they agree."""

import pandas as pd
import streamlit as st

from explainers import get_method, get_modality, list_modalities, methods_for
from explainers.core.compare import best, compare, compare_cost, figures_table
from explainers.core.registry import default_methods
from explainers.metrics.agreement import AGREEMENTS, agreement_of
from explainers.metrics.sanity import PASS_BELOW, sanity_applies
from models.units import duration
from pages.widgets import (
    app_runs_first,
    add_to_report,
    choose_input,
    image_name,
    faithfulness_option_widgets,
    method_params,
    plain,
    run_with_progress,
    show_error,
)
from reports.figures import COLORMAPS, renderer
from reports.figures.faithfulness_curves import has_curves
from reports.report import Agreement
from reports.views import explanation_views, shown_scores, view_html

app_runs_first()

st.title("Compare explainers")
st.caption("Every explainer on the same input and class, each with how faithful it is to the model, and how "
           "much they agree. The random baseline is always in the grid: a method should beat it.")

MODALITIES = {get_modality(m).label: m for m in list_modalities()}
modality = MODALITIES[st.radio("Input", list(MODALITIES), horizontal=True, key="compare_modality")]

chosen = choose_input(modality)
if chosen is None:
    st.stop()
model, x, input_id, target = chosen
# what report items call the input: an image's file or sample name, a table's "dataset row n"
input_name = (image_name(input_id) if modality == "image" else
              input_id.replace(":", " row ", 1) if modality == "tabular" and isinstance(input_id, str) else None)
prediction = None  # the model's prediction, when a class is to be chosen (a report item reuses it)
if target is None:  # the input does not fix what to explain: a class of the model
    try:
        prediction = model.predict(x)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    top1 = prediction.top(1)[0][0]
    probs = getattr(prediction, "probs", None)  # a regressor predicts a value, not class probabilities
    target = st.selectbox(
        "Class to explain", range(len(model.labels)), index=top1,
        format_func=lambda i: f"{model.labels[i]} ({i})" + (f" — {probs[i]:.1%}" if probs is not None else ""),
        key=f"compare_target:{modality}:{model.name}")

available = [m.id for m in methods_for(model, baseline=False)]  # those that apply; random is always added
picked = st.multiselect("Explainers (the random baseline is always added)", available,
                        default=default_methods(model), key=f"compare_methods:{modality}")
params = {m: method_params(get_method(m, modality), model) for m in picked}
c1, c2, c3 = st.columns(3)
sanity = sanity_applies(model) and c1.checkbox(
    "Sanity check (randomise the top layers and re-run)", key="compare_sanity",
    help="Adebayo et al. 2018: a map that does not change when the model is destroyed fails.")
metric = c2.selectbox("Agreement", AGREEMENTS, key="compare_agreement")
top_k = c3.slider("Top-k share (for top-k IoU)", 0.01, 0.5, 0.1, 0.01, key="compare_topk")
figure_options = {}
if get_modality(modality).faithfulness_options:
    with st.expander("Faithfulness figures: options"):
        figure_options = faithfulness_option_widgets(modality, key="compare_faithfulness")

try:  # what Run will cost, before it runs: every method, every map's faithfulness figures, the sanity re-runs
    plan = compare_cost(model, x, params, target, faithfulness_options=figure_options, sanity=sanity)
except Exception as exc:  # noqa: BLE001 - a bad parameter becomes a sentence
    show_error(exc)
    st.stop()
st.caption(plan.sentence(model.device_description) + " The random baseline is included; passes × measured time "
           "per pass.")

key = (modality, model.name, input_id, target, tuple(picked), repr(params), sanity, repr(figure_options))
if st.button("Run", type="primary", key="compare_run"):
    results = run_with_progress("compare", lambda progress: compare(
        model, x, params, target, faithfulness_options=figure_options, sanity=sanity, progress=progress,
        on_error=lambda method, exc: show_error(exc)))
    if results is not None:
        st.session_state["compare_results"] = (key, results)

stored = st.session_state.get("compare_results")
if stored is None or stored[0] != key:
    st.info("Choose explainers, then press **Run**.")
    st.stop()
results = stored[1]


SCALES = {"magnitude (|score|)": True, "signed": False}
magnitude = SCALES[st.radio(
    "Show and compare", list(SCALES), horizontal=True, key="compare_scale",
    help="The tiles and the agreement matrix use the same values: the scores' magnitudes (every method on one "
         "scale, whatever its sign convention) or the signed scores.")]


def show_figures_table(results) -> None:
    """One row per method (random included), one column per headline figure, the best value of each highlighted."""
    rows, better, headers = figures_table(results)
    if not better:
        return
    frame = pd.DataFrame(rows).set_index("method").rename(columns=headers)
    headline, way = next(iter(better.items()))
    frame = frame.sort_values(headers[headline], ascending=way == "lower", kind="stable")
    winners = best(rows, better)

    def highlight(column):
        name = next(n for n, h in headers.items() if h == column.name)
        return ["font-weight: bold; background-color: #d9f2d9" if m in winners.get(name, ()) else ""
                for m in column.index]

    st.subheader("Faithfulness")
    st.dataframe(frame.style.apply(highlight, subset=list(headers.values())).format(precision=3, subset=list(
        c for c in frame.columns if c != "sanity")), key="compare_figures")
    sanity = f" The sanity check passes when ρ < {PASS_BELOW} with the top layers randomised." \
        if "sanity" in frame.columns else ""
    st.caption(f"Sorted by {headers[headline]}; click a column to sort by it. The best value of each figure is "
               f"highlighted (ties: all of them; none when every method has the same value). The random baseline is a row: a method should beat it.{sanity}")

show_figures_table(results)
spec = get_modality(modality)
# every tile on one scale, the one the agreement matrix reads: magnitudes in [0, 1], or signed in [-1, 1]
options = {"ranked_bars": {"magnitude": magnitude}}
if "image_overlay" in spec.figures:
    from pages.widgets import clip_slider

    c1, c2, c3 = st.columns(3)
    options["image_overlay"] = {
        "colormap": c1.selectbox("Colormap (shared by every tile)", COLORMAPS, key="compare_colormap",
                                 help="Signed maps always use a diverging red–blue map."),
        "opacity": c2.slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="compare_opacity"), "magnitude": magnitude,
        "percentile": clip_slider(c3, "compare_clip_percentile")}
names = [e.method for e in results]
# the agreement of exactly what the tiles show (reports.views.shown_scores): magnitudes or signed, maps clipped
matrix = agreement_of([shown_scores(e, x, options) for e in results], metric, top_k) if len(results) > 1 else None
agreement_name = f"{metric} of |score|" if magnitude else f"{metric} of signed scores"
shared_agreement = Agreement(names, matrix, agreement_name) if matrix is not None else None
st.caption(("One scale for all: each map is shown in [0, 1] and each bar chart by |score|, whatever the method's "
            "sign convention; the agreement matrix compares these magnitudes" if magnitude else
            "Signed scores: methods that keep a sign show it (red positive, blue negative), the others stay in [0, 1]; "
            "the agreement matrix compares the signed scores")
           + (", as the maps show them (clipped at the chosen percentile)." if "image_overlay" in options else "."))
columns = st.columns(min(3, len(results)) or 1)
for i, e in enumerate(results):
    with columns[i % len(columns)]:
        st.markdown(f"#### {e.method}")
        for view in explanation_views(e, x, options):
            draw = renderer(view.kind)
            if draw.plotly is not None:
                st.plotly_chart(draw.plotly(view.data), width="stretch", key=f"compare_{view.kind}:{e.method}")
            else:
                st.markdown(view_html(view), unsafe_allow_html=True)
        st.caption(f"{e.method} for **{plain(e.target_label)}** · {duration(e.runtime_s)} · {e.n_forward} forward + "
                   f"{e.n_backward} backward · device {e.device}")
        add_to_report(model, x, e, key=f"compare:{e.method}", agreement=shared_agreement, prediction=prediction,
                      view_options=options, input_name=input_name)
        f = e.faithfulness
        if has_curves(f) and st.toggle("Show the curves", key=f"compare_curves:{e.method}"):
            st.plotly_chart(renderer("faithfulness_curves").figure(f), width="stretch",
                            key=f"compare_curve:{e.method}")

if matrix is not None:
    st.subheader("Agreement")
    st.caption("Explainers often disagree, and that is information, not an error: each answers a different "
               "question about the model (Krishna et al., \"The Disagreement Problem\"; \"A Song of (Dis)agreement\"). "
               "Read agreement together with the faithfulness figures above.")
    st.plotly_chart(renderer("agreement_matrix").figure(names, matrix, agreement_name), width="stretch",
                    key="compare_agreement_matrix")
