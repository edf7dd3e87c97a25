"""The Tables page's SHAP-KL wording and its "Leakage check" section (called from pages/tabular.py).

The figures come from explainers/metrics/leakage.py; this module only wires widgets to it.
"""

import numpy as np
import pandas as pd
import streamlit as st

from explainers.metrics.leakage import DEFAULT_BACKGROUND, DEFAULT_K, leakage_check
from explainers.tabular.shap_kl import METHOD as KL, VALUE_NAME
from explainers.tabular.shap_methods import default_explainer
from pages.widgets import plain, run_with_progress

MAX_ROWS = 50


def output_name(model, e) -> str:
    """What the explanation's values add up to: its own ``output_kind`` (SHAP-KL: −KL(...)), else the model's."""
    return e.extras.get("output_kind", model.output_kind)


def method_caption(model, method: str) -> None:
    """A sentence under the explainer choice when the method is SHAP-KL (class-independent)."""
    if method == KL:
        st.caption(f"**shap-kl** explains the whole distribution over classes at once, v(S) = {VALUE_NAME}: one "
                   "explanation for every class (the class chosen below changes nothing), whose values add up to "
                   "KL(p(y|x) ‖ the background's mean p). A positive value brings the predicted distribution "
                   "closer to the row's.")


def explained_global(e, explained: str, why: str) -> tuple[str, str]:
    """The global view's wording of what is explained: a class-independent explanation names no class."""
    if e.extras.get("class_independent"):
        return e.target_label, f"**{plain(e.target_label)}**"
    return explained, why


def _figure(value: float) -> str:
    """A leakage figure as shown: 4 decimals, float rounding below 5e-7 shown as +0.0000 (not -0.0000)."""
    return f"{round(float(value), 6) + 0.0:+.4f}"


def _shap_method(model, method: str) -> str:
    """The class-dependent SHAP method to check beside SHAP-KL: the page's when it is one, else the model's default."""
    return method if method != KL and method.startswith("shap-") else default_explainer(model)[0]


def leakage_section(model, model_key: str, method: str, params: dict, pool: pd.DataFrame) -> None:
    """'Leakage check': a button, progress, the two figures side by side and one sentence on what they mean."""
    if model.task != "classification":
        return
    st.subheader("Leakage check")
    shap_method = _shap_method(model, method)
    st.caption(f"Does an explanation of a class keep the features that make *that* class likely, whichever class is "
               f"asked (label leakage, Jethani et al. 2023)? For sampled rows and every class c: keep the top k "
               f"features of the explanation for c (the rest averaged over {DEFAULT_BACKGROUND} background rows) "
               f"and compare p(c) with the model's p(c | row). **{shap_method}** explains each class on its own; "
               "**shap-kl** once for all.")
    m = len(model.feature_names)
    left, right = st.columns(2)
    with left:
        n_rows = int(st.number_input("Rows (sampled, held out)", 1, min(MAX_ROWS, len(pool)), min(5, len(pool)),
                                     key="tab_leak_rows"))
    with right:
        k = int(st.number_input("k (top features kept)", 1, m, min(DEFAULT_K, m), key="tab_leak_k"))
    if st.button("Run the leakage check", key="tab_leak_run"):
        rows = pool.sample(n=n_rows, random_state=0) if len(pool) > n_rows else pool
        methods = {shap_method: params if method == shap_method else {}, KL: params if method == KL else {}}
        result = run_with_progress("Leakage check", lambda progress: leakage_check(
            model, rows.reset_index(drop=True), methods, k=k, progress=progress), unit="explanations")
        st.session_state["tab_leakage"] = {"model": model_key, "result": result, "rows": len(rows)} if result else None
    state = st.session_state.get("tab_leakage")
    if not state or state["model"] != model_key:
        return
    result = state["result"]
    columns = st.columns(len(result))
    for column, (name, figure) in zip(columns, result.items()):
        with column:
            st.metric(f"{name} · leakage at k = {figure.k}", _figure(figure.leakage),
                      help=f"{figure.n_checked} row-class pairs · {figure.n_forward:,} model rows evaluated")
    first, second = result.values()
    st.markdown(f"Mean over {state['rows']} rows and every class of p(c | top {first.k} features of the explanation "
                f"for c) − p(c | row): above 0, the explanations make the class asked about look more likely than "
                f"the model finds it (they leak the label); a class-independent explanation such as shap-kl scores "
                f"0 by construction. Here **{first.method}** {_figure(first.leakage)}, **{second.method}** "
                f"{_figure(second.leakage)}.")
    table = pd.DataFrame({name: np.nanmean(figure.gaps, axis=0) for name, figure in result.items()},
                         index=pd.Index(model.labels, name="class"))
    st.caption("Per class: the mean over the rows of p(c | top k kept) − p(c | row) (shap-kl's add up to 0 across "
               "the classes).")
    st.dataframe(table.style.format("{:+.4f}"), key="tab_leak_table")
