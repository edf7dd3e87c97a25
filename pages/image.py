"""Image page: pick or upload an image, see the model's top classes, explain one with many methods."""

import streamlit as st

from explainers import default_method, get_method, methods_for
from explainers.core.cost import estimate_many, estimate_sentence
from explainers.core.explain import SharedRuns
from models.units import duration
from pages.widgets import (
    IMAGE_VIEW,
    open_view,
    view_choices,
    write_view,
    app_runs_first,
    add_to_report,
    choose_image,
    clip_slider,
    choose_image_model,
    image_name,
    memory_caption,
    method_params,
    plain,
    run_each,
    show_error,
)
from reports.figures import COLORMAPS, renderer

app_runs_first()

st.title("Image attribution")

open_view(IMAGE_VIEW)  # a shared link's view (?model=…&sample=…&class=…&methods=…)
model = choose_image_model()
if model is None:
    st.stop()
image, image_id = choose_image()
if image is None:
    st.stop()

prediction = model.predict(image)
left, right = st.columns([3, 2])
with left:
    st.image(image, caption=f"{image.shape[1]}×{image.shape[0]} px", width="stretch")
with right:
    st.markdown("**Top-5 predictions**")
    st.plotly_chart(renderer("top_classes").figure(prediction.top(5)), width="stretch", key="top5")

top1 = prediction.top(1)[0][0]
families = {}
for spec in methods_for(model):  # those that apply to this model (a set of images, CRAFT: the Concepts page)
    families.setdefault(spec.family, []).append(spec.id)
view_choices(IMAGE_VIEW, model, f"target:{model.name}:{image_id}",
             {f"methods:{family}": ids for family, ids in families.items()})
target = st.selectbox(
    "Class to explain (type to search all classes)",
    options=range(len(model.labels)),
    index=top1,
    format_func=lambda i: f"{model.labels[i]} ({i}) — {prediction.probs[i]:.1%}",
    key=f"target:{model.name}:{image_id}",
)

st.subheader("Methods")
first = default_method(model)
chosen: dict[str, dict] = {}
tabs = st.tabs([f"{family} ({len(ids)})" for family, ids in families.items()])
for tab, (family, ids) in zip(tabs, families.items()):
    with tab:
        default = [first] if first in ids else []
        picked = st.multiselect(f"{family} methods", ids, default=default, key=f"methods:{family}")
        for method_id in picked:
            chosen[method_id] = method_params(get_method(method_id, model.modality), model)

embedded = st.session_state.get("model_source") == "embedded"
write_view(IMAGE_VIEW, st.session_state.get("image_model") if embedded else None,
                 image_id.removeprefix("sample:") if image_id.startswith("sample:") else None, target, chosen)
if not chosen:
    st.info("Choose at least one method.")
    st.stop()

try:
    costs = estimate_many(model, chosen)  # the gradient CAMs chosen together share one pass: counted once
except Exception as exc:  # noqa: BLE001 - a bad parameter becomes a sentence
    show_error(exc)
    st.stop()
st.caption(estimate_sentence(costs, model.device_description))
memory_caption(model, chosen)

result_key = (model.name, image_id, target)
results = st.session_state.get("image_results")
if results is None or results["key"] != result_key:
    results = st.session_state["image_results"] = {"key": result_key, "explanations": {}}

if st.button("Run", type="primary", key="run"):

    runs = SharedRuns(model, image, chosen)  # the passes several methods share (the gradient CAMs') made once

    def run_one(method_id, params, progress):
        results["explanations"][method_id] = runs.explain(method_id, target, progress=progress)

    run_each(chosen, run_one, key="cancel", seconds={m: c[2] for m, c in costs.items()})



def shared_note(e) -> str:
    """' (the pass shared with …)' for an explanation made in a pass it shares with others (explain_many)."""
    shared = e.extras.get("shared_pass")
    if not shared:
        return ""
    others = ", ".join(m for m in shared["with"] if m != e.method)
    if shared["carried_by"] == e.method:
        return f" (one {shared['pass']} pass, shared with {others})"
    return f" (shares {shared['carried_by']}'s {shared['pass']} pass)"


shown = {m: e for m, e in results["explanations"].items() if m in chosen}
if not shown:
    st.info("Choose a class and methods, then press **Run**.")
    st.stop()

c1, c2, c3, c4 = st.columns(4)
opacity = c1.slider("Heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="opacity")
colormap = c2.selectbox("Colormap", COLORMAPS, key="colormap", help="Signed methods always use a diverging red–blue map.")
percentile = clip_slider(c3, "clip_percentile")
n_cols = c4.slider("Columns", 1, 4, min(3, len(shown)), key="n_cols")
overlay = {"colormap": colormap, "opacity": opacity, "percentile": percentile}
columns = st.columns(n_cols)
for i, (method_id, explanation) in enumerate(shown.items()):
    with columns[i % n_cols]:
        st.plotly_chart(
            renderer("image_overlay").figure(explanation, image, **overlay,
                                             title=f"{method_id} — {explanation.target_label}"),
            width="stretch",
            key=f"heatmap:{method_id}",
        )
        st.caption(
            f"{method_id} for **{plain(explanation.target_label)}** · {duration(explanation.runtime_s)} · "
            f"{explanation.n_forward} forward + {explanation.n_backward} backward{shared_note(explanation)} · "
            f"device {explanation.device}"
        )
        add_to_report(model, image, explanation, key=f"image:{method_id}", input_name=image_name(image_id),
                      prediction=prediction,
                      view_options={"image_overlay": overlay})
