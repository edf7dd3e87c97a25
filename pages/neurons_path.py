"""The Neurons page's section for vision transformers: the influential neuron path (neuron-path).

``section(model, image)`` draws it for a ViT and the prepared H×W×3 uint8 input: the class, the method's parameters,
the cost estimate, Run with progress and Cancel, then the path table, each path neuron's activation over the input,
the ablation check's figure and Add to report. Wiring only: the method, its tables and maps are in
explainers/neurons/neuron_path.py, the figures in reports/figures/.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from explainers import explain, get_method
from explainers.core.cost import estimate_many, estimate_sentence
from explainers.neurons.neuron_path import METHOD, NOT_A_VIT, is_vit, neuron_map_explanations, path_rows
from models.units import duration
from pages.widgets import add_to_report, memory_caption, method_params, plain, run_with_progress, show_error
from reports.figures import renderer

RESULT = "neurons_path_result"  # session state: {"key": what it explains, "explanation": Explanation}


def section(model, image) -> None:
    st.subheader("Influential neuron path")
    st.caption("The FFN neuron per transformer block that, added to the path so far, most raises the class's "
               "probability when scaled jointly from 0 to its activation (Wang et al., ICLR 2025), and the check: "
               "zeroing the path against zeroing random paths and the top-activation path.")
    if not is_vit(model):
        st.info(NOT_A_VIT)
        return
    prediction = model.predict(image)
    top = prediction.top(1)[0][0]
    target = st.selectbox("Class to explain", options=range(len(model.labels)), index=top, key="neurons_path:target",
                          format_func=lambda i: f"{model.labels[i]} ({i}) — {prediction.probs[i]:.1%}")
    spec = get_method(METHOD, "image")
    params = method_params(spec, model)
    try:
        costs = estimate_many(model, {METHOD: params})
    except Exception as exc:  # noqa: BLE001 - a bad parameter becomes a sentence
        show_error(exc)
        return
    st.caption(estimate_sentence(costs, model.device_description))
    memory_caption(model, {METHOD: params})

    key = (model.name, hashlib.sha256(image.tobytes()).hexdigest(), image.shape, target, tuple(sorted(params.items())))
    if st.button("Run", type="primary", key="neurons_path:run"):
        e = run_with_progress(METHOD, lambda progress: explain(model, image, METHOD, target=target,
                                                               progress=progress, **params))
        if e is not None:
            st.session_state[RESULT] = {"key": key, "explanation": e}
    result = st.session_state.get(RESULT)
    if result is None or result["key"] != key:
        st.info("Press **Run** to find the path.")
        return
    e = result["explanation"]
    st.caption(f"{METHOD} for **{plain(e.target_label)}** · {duration(e.runtime_s)} · {e.n_forward:,} forward + "
               f"{e.n_backward:,} backward · device {e.device}")
    st.dataframe(path_rows(e), hide_index=True, key="neurons_path:table",
                 column_config={"joint influence": st.column_config.NumberColumn(format="%.5f")})
    st.markdown("**Where each path neuron fires on the input** (its activation over the patch grid)")
    maps = neuron_map_explanations(e, image.shape[0], image.shape[1])
    columns = st.columns(min(4, len(maps)))
    for i, m in enumerate(maps):
        layer, neuron = m.extras["neuron"]
        with columns[i % len(columns)]:
            st.plotly_chart(renderer("image_overlay").figure(m, image, title=f"block {layer}, neuron {neuron}",
                                                             shows=f"activation of neuron {neuron} (÷ its largest)"),
                            width="stretch", key=f"neurons_path:map:{i}")
    st.plotly_chart(renderer("neuron_path_ablation").figure(e.extras["ablation"], "Ablation check", e.target_label),
                    width="stretch", key="neurons_path:ablation")
    add_to_report(model, image, e, key="neurons:path", prediction=prediction)
