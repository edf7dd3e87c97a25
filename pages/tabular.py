"""Tables page: a bundled dataset or a CSV, a model trained here or uploaded (skops, or an XGBoost/LightGBM/CatBoost
file), SHAP global and local (TreeSHAP interaction values as an option)."""

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

from explainers import explain, get_method, methods_for
from explainers.tabular.shap_methods import (
    PERMUTATION_IMPORTANCE,
    background_note,
    default_explainer,
    explain_global,
    ranked,
    strongest_interaction,
)
from models.adapters.tabular import MODEL_KINDS, load_skops, load_tabular, untrusted_types
from models.sources.boosters import UPLOAD_TYPES as BOOSTER_TYPES, library_of, raw_output_note
from models.units import duration
from pages import tabular_recourse as recourse
from pages.widgets import (
    actual_vs_predicted_line,
    add_to_report,
    app_runs_first,
    choose_table_data,
    choose_table_row_index,
    kept_upload,
    method_params,
    plain,
    plain_sentence,
    remember_model,
    remember_table_model,
    run_with_progress,
    show_error,
    train_table_model,
)
from reports.describe import row_name
from reports.csv_export import csv_bytes
from reports.figures import renderer
from reports.figures.ranked_bars import magnitude_bars
from pages.tabular_leakage import explained_global, leakage_section, method_caption, output_name

app_runs_first()

st.title("Tables")


def _upload_path(tmp: str, name: str, data: bytes) -> Path:
    path = Path(tmp) / f"model{Path(name).suffix.lower()}"
    path.write_bytes(data)
    return path


@st.cache_data(max_entries=4, show_spinner=False)
def _untrusted(name: str, data: bytes):
    with tempfile.TemporaryDirectory(prefix="lumen-skops-") as tmp:
        return untrusted_types(_upload_path(tmp, name, data))


def _skops(name: str, data: bytes, dataset, trusted: tuple):
    with tempfile.TemporaryDirectory(prefix="lumen-skops-") as tmp:
        return load_skops(_upload_path(tmp, name, data), dataset, trusted=list(trusted))


def _booster(name: str, data: bytes, dataset):
    library = library_of(name)
    with tempfile.TemporaryDirectory(prefix="lumen-booster-") as tmp:
        return load_tabular(f"{library}:{_upload_path(tmp, name, data)}", data=dataset)


def _booster_upload(dataset, data_key: str):
    """An XGBoost/LightGBM/CatBoost model file for the chosen data: (model, its key), or stops the page."""
    upload = kept_upload(
        "Model file: XGBoost (.json, .ubj), LightGBM (.txt) or CatBoost (.cbm), saved with save_model",
        type=[*BOOSTER_TYPES, "pkl", "pickle", "joblib"], key="tab_booster",
        help="The file's feature names and classes are used where it records them, else the data's columns in "
             "order and its target's values sorted. Pickle and joblib files are refused: opening them can run any code.")
    if upload is None:
        st.info("Upload a booster saved in its own format, trained on these columns.")
        st.stop()
    data = upload.getvalue()
    key = f"booster:{data_key}:{hashlib.sha256(data).hexdigest()}:{upload.name}"
    model = remember_model(key, lambda: _booster(upload.name, data, dataset), upload.name)
    if model.score is not None:
        st.caption(f"Loaded {plain_sentence(model.name)} · {model.score_name}: **{model.score:.3f}**")
    return model, key


def _interaction_heatmap(e, key: str):
    """The TreeSHAP interaction values' heatmap, when the explanation has them (shap-tree's interactions option)."""
    if "interactions" not in e.extras:
        return
    several = "interaction_values" in e.extras
    st.markdown("**TreeSHAP interaction values** " + (
        f"(mean |value| over {len(e.extras['interaction_values'])} rows)" if several else "(this row)"))
    st.caption("Each pair's interaction is split evenly between its two cells; a row of the matrix adds up to that "
               "feature's SHAP value (the diagonal holds the main effect: shown on hover, not coloured).")
    st.plotly_chart(renderer("interaction_heatmap").figure(e), key=f"tab_interactions:{key}")

ROWS = "model rows evaluated"


def _ranked_table(explanation, key: str):
    table = ranked(explanation)
    st.dataframe(table, hide_index=True, width="stretch", key=f"table:{key}")
    st.download_button("Download ranked table (CSV)", csv_bytes(table),
                       file_name=f"{explanation.method}-{key}.csv", mime="text/csv", key=f"download:{key}",
                       on_click="ignore")


# --- data ----------------------------------------------------------------------------------------------

try:
    choice = choose_table_data("tab")
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
if choice is None:
    st.stop()
dataset, data_key, data_name = choice.dataset, choice.key, choice.name

n_cat = sum(1 for c in dataset.features.columns if not np.issubdtype(dataset.features[c].dtype, np.number))
st.caption(
    f"{len(dataset.frame):,} rows · {dataset.features.shape[1]} features ({n_cat} categorical) · target "
    f"'{dataset.target}' ({dataset.task}{'' if choice.uploaded else ', the dataset’s own'}). Missing values are filled in (median, or most frequent category) and "
    "categorical columns one-hot encoded by the model's scikit-learn pipeline."
)

# --- model ---------------------------------------------------------------------------------------------

BOOSTER_FILE = "Upload an XGBoost, LightGBM or CatBoost file"
model_source = st.radio("Model", ["Train here", "Upload a skops model", BOOSTER_FILE], horizontal=True,
                        key="tab_model_source")
try:
    if model_source == "Train here":
        kind = st.selectbox("Model kind", list(MODEL_KINDS), format_func=lambda k: MODEL_KINDS[k], key="tab_kind")
        model = train_table_model(choice, kind, "tab")
        if model is None:
            st.stop()
        model_key = f"{data_key}:{kind}"
        st.caption(f"Trained on 75% of the rows · held-out {model.score_name}: **{model.score:.3f}**")
    elif model_source == BOOSTER_FILE:
        model, model_key = _booster_upload(dataset, data_key)
    else:
        upload = kept_upload(
            "Model saved with skops (skops.io.dump)", type=["skops", "pkl", "pickle", "joblib"], key="tab_skops",
            help="Pickle and joblib files are refused: opening them can run any code.")
        if upload is None:
            st.info("Upload a .skops file of a scikit-learn model trained on these columns.")
            st.stop()
        data = upload.getvalue()
        types = _untrusted(upload.name, data)
        if types:
            st.warning("The file contains types that skops does not trust by default. Accept them only if you "
                       "trust where the file comes from:")
            st.code("\n".join(types), language=None)
            if not st.checkbox("I trust these types; load the model", key="tab_trust"):
                st.stop()
        model_key = f"skops:{data_key}:{hashlib.sha256(data).hexdigest()}:{types}"
        model = remember_model(model_key, lambda: _skops(upload.name, data, dataset, tuple(types)), upload.name)
        if model.score is not None:
            st.caption(f"Loaded {plain_sentence(model.name)} · {model.score_name}: **{model.score:.3f}**")
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
remember_table_model(choice, model, model_key)  # Compare offers this table and model

# --- explainer -----------------------------------------------------------------------------------------

default_id, reason = default_explainer(model)
# those that apply (TreeSHAP: tree ensembles ...); responsiveness has its own place in the Local tab
methods = [m.id for m in methods_for(model, baseline=False)]
method = st.selectbox("Explainer", methods, index=methods.index(default_id), key=f"tab_method:{model.name}")
st.caption(f"Default **{default_id}**: {reason} Explained output: the model's **{model.output_kind}**"
           + (" of the chosen class." if model.task == "classification" else "."))
if raw_output_note(model):
    st.caption(raw_output_note(model))
spec = get_method(method, model.modality)
interactions = "interactions" in spec.defaults and st.checkbox(  # TreeSHAP's option (registry defaults)
    "Also TreeSHAP interaction values (a heatmap of each pair of features)", key="tab_interactions",
    help="Exact pairwise SHAP interaction values (Lundberg et al. 2020); each row of the matrix adds up to the "
         "feature's SHAP value.")
params = method_params(spec, model, hidden=("interactions",))
if interactions:
    params["interactions"] = True
st.caption(background_note(method, model, params))
method_caption(model, method)

target = None
if model.task == "classification":
    # -1, not None, for the predicted class: a selectbox showing None reads "Choose an option"
    target = st.selectbox("Class to explain", [-1, *range(len(model.labels))], key=f"tab_class:{model.name}",
                          format_func=lambda i: "the predicted class" if i == -1 else model.labels[i],
                          help="A classifier's SHAP values explain one class's output. Local: the row's predicted "
                               "class. Global: one class for every row, the class predicted most often among "
                               "the rows explained (the view says which); choose a class to see another.")
    target = None if target in (-1, None) else target

try:
    per_row = spec.estimate(params, model)[0]
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()

global_tab, local_tab = st.tabs(["Global", "Local"])

with global_tab:
    pool = model.held_out[0] if model.held_out is not None else model.background
    rows = int(st.number_input("Rows to explain (sampled)", 2, max(2, len(pool)), min(200, len(pool)), key="tab_rows"))
    st.caption(f"Estimated cost: about {per_row * rows:,} model rows evaluated ({per_row:,} per row).")
    compare = st.checkbox("Also compute permutation importance (scikit-learn, held-out rows)", key="tab_perm")
    if st.button("Explain globally", type="primary", key="run_global"):
        e = run_with_progress(method, lambda progress: explain_global(
            model, pool, method=method, rows=rows, target=target, progress=progress, **params), unit=ROWS)
        p = run_with_progress(PERMUTATION_IMPORTANCE, lambda progress: explain_global(
            model, pool, method=PERMUTATION_IMPORTANCE, rows=len(pool), progress=progress),
            unit=ROWS) if compare and e else None
        st.session_state["tab_global"] = {"model": model_key, "e": e, "perm": p, "chosen": target} if e else None
    result = st.session_state.get("tab_global")
    if result and result["model"] == model_key:
        e = result["e"]
        if model.task == "classification":
            explained = f"class {e.target_label}"
            why = (f"**class {plain(e.target_label)}**, the class predicted most often among these rows (each class "
                   "has its own SHAP values: choose one under *Class to explain* to see another)"
                   if result.get("chosen") is None else f"**class {plain(e.target_label)}**")
        else:
            explained, why = "the prediction", "**the prediction**"
        explained, why = explained_global(e, explained, why)
        what = why if model.task != "classification" else f"the {output_name(model, e)} of {why}"
        st.caption(f"{e.method} on {len(e.extras['rows'])} rows, explaining {what} · "
                   f"{duration(e.runtime_s)} · {e.n_forward:,} model rows evaluated · base value {e.base_value:.4g}")
        st.plotly_chart(renderer("ranked_bars").plotly(magnitude_bars(
            e.feature_names, e.scores, f"Mean |SHAP| for {explained} ({e.method})",
            f"mean |SHAP value| ({output_name(model, e)} of {explained})")), key="tab_bar")
        st.plotly_chart(renderer("beeswarm").figure(
            e, title=f"Beeswarm: SHAP values for {explained}, every sampled row"), key="tab_beeswarm")
        order = [e.feature_names[i] for i in np.argsort(-e.scores)]
        feature = st.selectbox("Dependence plot for", order, key="tab_dep_feature")
        partner = strongest_interaction(e, feature)
        st.plotly_chart(renderer("dependence").figure(e, feature, partner), key="tab_dependence")
        _interaction_heatmap(e, "global")
        _ranked_table(e, "global")
        if result["perm"] is not None:
            p = result["perm"]
            st.plotly_chart(renderer("ranked_bars").plotly(magnitude_bars(
                p.feature_names, p.scores, "Permutation importance (scikit-learn)", "drop in score when shuffled")),
                key="tab_perm_bar")

with local_tab:
    frame = dataset.features
    index = choose_table_row_index(model, dataset, model_key, key="tab_row", prefix="tab")
    row = frame.iloc[index].to_dict()
    with st.form(key="tab_whatif"):
        st.caption("What-if: edit the row's values, then explain.")
        edited = {}
        columns = st.columns(3)
        for i, column in enumerate(model.feature_names):
            with columns[i % 3]:
                key = f"tab_value:{model_key}:{index}:{i}"  # another table or model: its own values
                if column in model.schema.categories:
                    options = model.schema.categories[column]
                    value = row.get(column)
                    edited[column] = st.selectbox(plain(column), options, key=key,
                                                  index=options.index(value) if value in options else None)
                else:
                    value = row.get(column)
                    edited[column] = st.number_input(plain(column), value=None if value is None or np.isnan(value)
                                                     else float(value), format="%.6g", key=key)
        submitted = st.form_submit_button("Explain this row", type="primary")
    if submitted:
        values = {c: (np.nan if v is None else v) for c, v in edited.items()}
        e = run_with_progress(method, lambda progress: explain(
            model, values, method=method, target=target, progress=progress, **params), unit=ROWS)
        st.session_state["tab_local"] = ({"model": model_key, "e": e, "row": values, "index": index,
                                          "name": row_name(index, row, values, data_name)} if e else None)
    result = st.session_state.get("tab_local")
    if result and result["model"] == model_key:
        e = result["e"]
        output = e.extras["output"]
        edited = row_name(0, frame.iloc[result["index"]].to_dict(), result["row"]) != "row 0"
        line = actual_vs_predicted_line(model, dataset, model_key, result["index"], result["row"], edited)
        if line:
            st.markdown(line)
        st.caption(f"{e.method} for **{plain(e.target_label)}** · {duration(e.runtime_s)} · {e.n_forward:,} model rows "
                   f"evaluated · {output_name(model, e)} {output:.4g} = base value {e.base_value:.4g} + Σ contributions")
        resp = recourse.controls(model, model_key, result["row"])
        shap_column, resp_column = st.columns(2)
        with shap_column:
            st.plotly_chart(renderer("waterfall").figure(e, output, output_name=f"{output_name(model, e)} ({e.target_label})"),
                            key="tab_waterfall")
            _interaction_heatmap(e, "local")
        with resp_column:
            recourse.chart(resp)
        recourse.verdict(model, resp, e, result["row"], result.get("name") or f"{model.name} row {result['index']}")
        _ranked_table(e, "local")
        add_to_report(model, result["row"], e, key=f"tabular:{e.method}",
                      input_name=result.get("name") or f"{model.name} row {result.get('index', index)}")

leakage_section(model, model_key, method, params, model.held_out[0] if model.held_out is not None else model.background)
