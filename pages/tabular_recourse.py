"""The Tables page's recourse part: the action set editor, responsiveness for the explained row, the fixed flag, and
SHAP's top features beside the responsive ones. The logic is in explainers/tabular/responsiveness.py; this wires it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explainers import explain, get_method
from explainers.tabular.responsiveness import METHOD, EDITOR_ACTIONS, actions_from_table, default_table, reasons
from models.units import duration
from pages.widgets import add_to_report, method_params, plain, run_with_progress, show_error
from reports.figures.responsiveness import RENDERER as CHART
from reports.figures.responsiveness import headline

RESULT = "tab_resp"


def _table_key(model_key: str) -> str:
    return f"tab_actions:{model_key}"


def action_editor(model, model_key: str) -> pd.DataFrame:
    """The action set as an editable table (one row per feature; every feature immutable until the person says
    otherwise), kept in this session per model, so it survives page switches and reruns."""
    stored = st.session_state.get(_table_key(model_key))
    table = stored if isinstance(stored, pd.DataFrame) else default_table(model)
    edited = st.data_editor(
        table, hide_index=True, width="stretch", key=f"tab_actions_editor:{model_key}",
        disabled=("feature", "type"),
        column_config={
            "feature": st.column_config.TextColumn("feature"),
            "type": st.column_config.TextColumn("type", help="whole numbers stay whole; categories take listed values"),
            "action": st.column_config.SelectboxColumn(
                "action", options=list(EDITOR_ACTIONS), required=True,
                help="immutable: the person cannot change it · up / down / both: within lower–upper, in steps of "
                     "step (empty: any value) · values: only the values listed (a category always takes its values)"),
            "lower": st.column_config.NumberColumn("lower", format="%.6g"),
            "upper": st.column_config.NumberColumn("upper", format="%.6g"),
            "step": st.column_config.NumberColumn("step", format="%.6g", min_value=0.0),
            "values": st.column_config.TextColumn("values", help="allowed values, separated by commas"),
        })
    st.session_state[_table_key(model_key)] = edited
    return edited


def controls(model, model_key: str, row: dict):
    """The editor, the target and the run button; the responsiveness explanation of ``row`` (this model, this row),
    or None when it has not been computed."""
    st.markdown("**Recourse: which features can this person change?** (the action set)")
    with st.form(key="tab_resp_form"):
        st.caption("Responsiveness: the chance that the person reaches the target by changing ONE feature alone, the "
                   "new value drawn uniformly from the values their action set allows (other than the current one). "
                   "Nothing is actionable unless you say so below; bounds and steps start from the data.")
        table = action_editor(model, model_key)
        desired, threshold = None, None
        if model.task == "classification":
            choice = st.selectbox("Target", [-1, *range(len(model.labels))], key=f"tab_resp_desired:{model.name}",
                                  format_func=lambda i: "any class other than the predicted one" if i == -1
                                  else f"class {model.labels[i]}")
            desired = None if choice in (-1, None) else model.labels[choice]
        else:
            typical = float(np.median(model.held_out[1])) if model.held_out is not None else 0.0
            threshold = float(st.number_input("Target threshold (the prediction must cross it)", value=typical,
                                              format="%.6g", key=f"tab_resp_threshold:{model.name}"))
        params = method_params(get_method(METHOD, model.modality), model, hidden=("actions", "desired", "threshold"))
        run = st.form_submit_button("Check responsiveness")
    if run:
        try:
            actions = actions_from_table(model, table)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            actions = None
        if actions is not None:
            e = run_with_progress(METHOD, lambda progress: explain(
                model, row, method=METHOD, desired=desired, threshold=threshold, actions=actions, progress=progress,
                **params), unit="model rows evaluated")
            st.session_state[RESULT] = {"model": model_key, "row": dict(row), "e": e} if e else None
    result = st.session_state.get(RESULT)
    if result and result["model"] == model_key and _same_row(result["row"], row):
        return result["e"]
    return None


def _same_row(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(x == y or (x != x and y != y) for x, y in ((a[k], b[k]) for k in a))


def chart(e) -> None:
    """The responsiveness chart (beside the waterfall), or a sentence saying how to get one."""
    if e is None:
        st.info("Responsiveness: mark the features this person can change in the action set above, then "
                "*Check responsiveness*.")
        return
    st.plotly_chart(CHART.figure(e), key="tab_resp_chart")


def verdict(model, e, shap_e, row: dict, name: str) -> None:
    """The fixed flag said plainly, an example of a change that works, SHAP's reasons beside the responsive features."""
    if e is None:
        return
    sentence = headline(e)
    (st.error if e.extras["fixed"] else st.success)(plain(sentence))
    examples = e.extras.get("examples") or {}
    if examples:
        said = "; ".join(f"{plain(f)} → {plain(str(v['value']))} gives {plain(str(v['prediction']))}"
                         for f, v in list(examples.items())[:3])
        st.caption(f"For example (the smallest such change of each feature): {said}.")
    for pair, v in list((e.extras.get("pair_examples") or {}).items())[:3]:
        st.caption(f"Together: {plain(pair)} ({', '.join(f'{plain(k)} = {plain(str(x))}' for k, x in v.items() if k != 'prediction')}) "
                   f"gives {plain(str(v['prediction']))}.")
    st.caption(f"{e.n_forward:,} model rows evaluated · {duration(e.runtime_s)} · distribution: "
               f"{e.extras['distribution']}.")
    if shap_e is not None and shap_e.method != METHOD and shap_e.feature_names == e.feature_names:
        st.markdown(f"**SHAP's top features vs the responsive ones** ({shap_e.method}; a reason marked "
                    "*unresponsive* cannot change this decision on its own)")
        st.dataframe(reasons(shap_e, e), hide_index=True, width="stretch", key="tab_resp_reasons",
                     column_config={"its responsiveness": st.column_config.NumberColumn(format="%.2f"),
                                    "its score": st.column_config.NumberColumn(format="%.2f"),
                                    "SHAP value": st.column_config.NumberColumn(format="%.4g")})
    add_to_report(model, row, e, key=f"tabular:{METHOD}", input_name=name)
