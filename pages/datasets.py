"""Datasets page: a dataset job's results as a whole — per-class mean maps, each faithfulness figure per method,
agreement between methods, a table of items to sort and filter, and any item's maps beside its input."""

import json
import time

import streamlit as st

from explainers.batch import summary
from models.errors import LumenError
from models.units import duration
from pages import background_jobs
from pages.widgets import (
    add_view_to_report,
    admit_to_report,
    app_runs_first,
    cached_model,
    kept_upload,
    method_params,
    plain,
    show_error,
)
from reports.figures import renderer
from reports.figures.ranked_bars import magnitude_bars
from reports.report import DatasetView, ReportItem
from reports.views import explanation_views, view_html

app_runs_first()

st.title("Datasets")
st.caption("A dataset job explains every input of a folder, ZIP, CSV or table with one or more methods, here or "
           "with `python cli.py batch DATA --model M --method grad-cam --out DIR`. Open its result directory to "
           "see where the model looks across the data, how faithful each method is, and which items to look at.")

OPENED = "datasets_opened"  # session state: the result directory shown


@st.cache_resource(max_entries=4, show_spinner="Reading the results…")
def _results(out: str, _signature: tuple) -> summary.Results:
    return summary.open_results(out)


@st.cache_resource(max_entries=8, show_spinner="Measuring the agreement between methods…")
def _agreement(out: str, _signature: tuple):
    return summary.item_agreement(_results(out, _signature))


@st.cache_resource(max_entries=16, show_spinner="Averaging the maps…")
def _mean_maps(out: str, _signature: tuple, method: str, by: str):
    return summary.class_mean_maps(_results(out, _signature), method, by)


def _open(path: str) -> None:
    try:
        summary.open_results(path)  # a sentence now, rather than an empty page
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    st.session_state[OPENED] = path.strip()
    summary.remember_results(path.strip())


MODES = ("Open a result directory", "Start a job")
JOB = "datasets_job"  # session state: the id of the job this session started (the job itself is the server's)


def _open_job_results(out: str) -> None:
    st.session_state[OPENED] = out
    st.session_state["datasets_mode"] = MODES[0]
    summary.remember_results(out)


@st.cache_resource(max_entries=4, show_spinner="Listing the data's inputs…")
def _items(data: str, model_name: str, limit: int | None):
    from explainers.batch.reader import read_items

    return read_items(data, cached_model(model_name), limit=limit)


def _upload_path(upload) -> str:
    """An uploaded dataset as a file a job reads (a job reads paths): under Lumen's cache, by its content's hash."""
    import hashlib
    import re

    from models.cache import cache_dir

    data = upload.getvalue()
    name = re.sub(r"[^A-Za-z0-9._-]", "_", upload.name)[-80:] or "upload"
    folder = cache_dir() / "uploads" / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def _job_form() -> None:
    """Data, model, methods and options; the cost before Start; Start runs the job in the background."""
    from explainers import get_method, methods_for
    from explainers.batch.job import run_job
    from explainers.batch.reader import BUNDLED, load_item
    from explainers.core.registry import default_methods
    from models.cache import cache_dir

    source = st.radio("Data", ["A bundled dataset", "An upload"], horizontal=True, key="datasets_job_source")
    if source == "A bundled dataset":
        data = st.selectbox("Dataset", list(BUNDLED), key="datasets_job_bundled",
                            format_func=lambda n: f"{n}: {BUNDLED[n].description}")
        default_model = BUNDLED[data].model
    else:
        upload = kept_upload("A ZIP of images (class subfolders give labels), a CSV of texts (a text column and an "
                             "optional label column) or a table (CSV or Parquet)", key="datasets_job_upload",
                             type=["zip", "csv", "parquet", "txt"])
        if upload is None:
            st.info("Upload a dataset, or pick a bundled one.")
            return
        data = _upload_path(upload)
        default_model = "efficientnet-lite0" if data.lower().endswith(".zip") else "minilm-sentiment"
    model_name = st.text_input("Model", value=default_model, key=f"datasets_job_model:{data}",
                               help="An embedded model (vit-digits, efficientnet-lite0, minilm-sentiment) or a "
                                    "bundled table model (tabular:DATASET:KIND).").strip()
    try:
        model = cached_model(model_name)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    available = [m.id for m in methods_for(model, baseline=False)]
    picked = st.multiselect("Methods", available, default=[m for m in default_methods(model) if m in available],
                            key=f"datasets_job_methods:{model_name}")
    params = {m: method_params(get_method(m, model.modality), model) for m in picked}
    c1, c2, c3 = st.columns(3)
    limit = int(c1.number_input("Inputs (0: all)", 0, 10_000_000, 0, step=50, key="datasets_job_limit")) or None
    workers = int(c2.number_input("Workers (0: one per core)", 0, 256, 0, key="datasets_job_workers")) or None
    figures = c3.checkbox("Faithfulness figures", value=True, key="datasets_job_figures",
                          help="Each map's figures, as Compare measures them (more passes per input).")
    if not picked:
        st.info("Pick at least one method.")
        return
    try:
        items = _items(data, model_name, limit)
        first = next(i for i in items if i.error is None)
        estimate = summary.job_estimate(model, load_item(model, first), params, len(items), figures)
        st.caption(estimate.sentence(model.device_description))
    except StopIteration:
        st.error("No input of the data can be read.")
        return
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    label = f"{model_name} on {data if source == 'A bundled dataset' else upload.name}"
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{label}")[:80]
    out = str(cache_dir() / "jobs" / slug)  # the same data and model: the same folder, so a rerun resumes
    st.caption(f"Results go to {plain(out)}; the same job started again skips what is done there.")
    if st.button("Start", key="datasets_job_start", type="primary"):
        try:
            job = background_jobs.start(label, out, lambda progress, cancel: run_job(
                data, model_name, params, out, workers=workers, limit=limit, faithfulness=figures,
                progress=progress, cancel=cancel))
            st.session_state[JOB] = job.id
        except Exception as exc:  # noqa: BLE001
            st.error(plain(str(exc)))


@st.fragment(run_every=1.0)
def _job_status() -> None:
    """The session's job: its progress while it runs (redrawn every second, the rest of the page usable), Cancel,
    and what it did once it ends."""
    job = background_jobs.get(st.session_state.get(JOB))
    if job is None:
        return
    if job.running:
        share = job.done / job.total if job.total else 0.0
        rate = job.done / max(1e-9, time.time() - job.started)
        eta = f", about {duration((job.total - job.done) / rate)} left" if job.done and rate > 0 else ""
        st.progress(min(1.0, share), text=f"{plain(job.label)}: {job.done:,}/{job.total:,} explanations{eta}"
                    + (" — cancelling after this batch" if job.cancel.is_set() else ""))
        if st.button("Cancel", key="datasets_job_cancel", help="Stops the job after its current batch; what was "
                     "written stays, and starting it again resumes."):
            job.cancel.set()
        return
    if job.error is not None:
        why = plain(str(job.error)) if isinstance(job.error, LumenError) else type(job.error).__name__
        st.error(f"The job {plain(job.label)} stopped: {why}. What it wrote stays in its folder; starting it again "
                 "resumes.")
    else:
        s = job.summary
        errors = f", {len(s.errors):,} inputs could not be explained" if s.errors else ""
        what = "was cancelled" if s.cancelled else "is done"
        st.success(f"The job {plain(job.label)} {what}: {s.done:,} explanations written, {s.skipped:,} already "
                   f"there{errors}, in {duration(s.seconds)}.")
    if st.button("Open the results", key="datasets_job_open", on_click=_open_job_results, args=(job.out,)):
        st.rerun(scope="app")  # a button in a fragment reruns only the fragment


mode = st.radio("What to do", MODES, horizontal=True, key="datasets_mode", label_visibility="collapsed")
if mode == MODES[1]:
    _job_form()
else:
    recent = summary.recent_results()
    c1, c2 = st.columns([3, 2])
    typed = c1.text_input("Result directory (on the server)", key="datasets_path",
                          placeholder="/path/to/OUT, the --out of a job")
    if c1.button("Open", key="datasets_open", disabled=not typed.strip()):
        _open(typed)
    if recent:
        chosen = c2.selectbox("Or a recent one", recent, index=None, key="datasets_recent",
                              placeholder="Result directories opened lately")
        if c2.button("Open this one", key="datasets_open_recent", disabled=chosen is None):
            _open(chosen)
if background_jobs.get(st.session_state.get(JOB)) is not None:
    _job_status()

out = st.session_state.get(OPENED)
if not out:
    if mode == MODES[0]:
        st.info("Open a job's result directory to see its summaries.")
    st.stop()
try:
    signature = summary.signature(out)
    results = _results(out, signature)
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()

facts = summary.overview(results)
accuracy = f" · accuracy {facts['accuracy']:.1%} on {facts['labelled']:,} labelled inputs" if facts["accuracy"] \
    is not None else ""
st.markdown(f"**{plain(out)}** — {facts['inputs']:,} inputs × {len(facts['methods'])} methods "
            f"({plain(', '.join(facts['methods']))}) on **{plain(facts['model'])}** ({plain(facts['modality'])}); "
            f"{facts['errors']:,} error rows{accuracy}.")
if not len(results.ok):
    st.warning("No input has a map yet (every row is an error, or the job has not written a part).")
    st.stop()
methods = [m for m in results.methods if (results.ok["method"] == m).any()]
SOURCE = summary.described(results)
identity = summary.model_identity(results)


# ---- where the model looks, per class -----------------------------------------------------------------------------
if results.modality == "image":
    st.subheader("Mean map per class")
    c1, c2 = st.columns(2)
    method = c1.selectbox("Method", methods, key="datasets_mean_method")
    by = c2.selectbox("Class", ["label", "prediction", "target"], key="datasets_mean_by",
                      index=0 if results.rows["label"].notna().any() else 2,
                      format_func={"label": "the true label", "prediction": "the model's prediction",
                                   "target": "the class explained"}.get)
    try:
        means = _mean_maps(out, signature, method, by)
        if means:
            st.caption("Each map is scaled by its largest |score| (every input counts the same), brought onto one "
                       "grid, and averaged over the class's inputs.")
            title = f"{method}: mean map per {by}"
            st.plotly_chart(renderer("mean_maps").figure(list(means.values()), title), key="datasets_mean_maps")
            add_view_to_report(lambda: DatasetView(
                "mean_maps", title, [m.label for m in means.values()], [m.mean for m in means.values()],
                [m.n for m in means.values()], source=SOURCE), key=f"mean_maps:{method}:{by}")
        else:
            st.info(f"No map of {method} is one per pixel with a {by} to group it by.")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
elif results.modality == "tabular":
    st.subheader("Global importance")
    method = st.selectbox("Method", methods, key="datasets_global_method")
    try:
        names, values, n = summary.global_shap(results, method)
        title = f"{method}: mean |score| over {n:,} rows"
        st.plotly_chart(renderer("ranked_bars").plotly(magnitude_bars(names, values, title, x_title="mean |score|")),
                        key="datasets_global")
        add_view_to_report(lambda: DatasetView("ranked_bars", title, names, [values],
                                               options={"x_title": "mean |score|"}, source=SOURCE),
                           key=f"global:{method}")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
elif results.modality == "text":
    st.subheader("Tokens most often at the top, per class")
    method = st.selectbox("Method", methods, key="datasets_tokens_method")
    per_class = summary.top_tokens(results, method)
    columns = st.columns(max(1, min(3, len(per_class))))
    for k, (label, found) in enumerate(per_class.items()):
        with columns[k % len(columns)]:
            st.markdown(f"**{plain(label)}**")
            st.dataframe({"token": [t for t, _, _ in found], "texts": [c for _, c, _ in found],
                          "share": [s for _, _, s in found]}, hide_index=True,
                         column_config={"share": st.column_config.NumberColumn(format="percent")},
                         key=f"datasets_tokens:{label}")


# ---- how faithful each method is, and how much they agree ---------------------------------------------------------
values = summary.figure_values(results)
agreement = _agreement(out, signature) if len(methods) > 1 else None
if values:
    st.subheader("Faithfulness per method")
    c1, c2 = st.columns([3, 1])
    figure = c1.selectbox("Figure", list(values), key="datasets_figure",
                          format_func=lambda f: f + (f" ({results.better(f)} is better)" if results.better(f) else ""))
    style = c2.radio("Drawn as", ["box", "violin"], horizontal=True, key="datasets_style")
    st.plotly_chart(renderer("distribution").figure(values[figure], f"{figure} per method", figure,
                                                    results.better(figure), style), key="datasets_distribution")
    add_view_to_report(lambda: DatasetView(
        "distribution", f"{figure} per method", list(values[figure]), list(values[figure].values()),
        options={"value_title": figure, "better": results.better(figure), "style": style}, source=SOURCE),
        key=f"distribution:{figure}:{style}")
if agreement is not None and len(agreement):
    pairs = summary.agreement_values(agreement)
    st.subheader("Agreement between methods")
    st.caption(f"Spearman's ρ between two methods' |maps| on each input ({len(agreement):,} inputs): 1 the same "
               "ranking of pixels or features, 0 unrelated. Disagreement is information, not an error.")
    st.plotly_chart(renderer("distribution").figure(pairs, "", "Spearman's ρ", None, "box"),
                    key="datasets_agreement")
    add_view_to_report(lambda: DatasetView(
        "distribution", "Agreement between methods per input", list(pairs), list(pairs.values()),
        options={"value_title": "Spearman's ρ between the |maps|", "style": "box"}, source=SOURCE),
        key="agreement")


# ---- the items ----------------------------------------------------------------------------------------------------
st.subheader("Items")
table = summary.items_table(results, agreement)
filters = summary.available_filters(results, table)
c1, c2, c3 = st.columns([2, 2, 1])
how = c1.selectbox("Show", filters, key="datasets_filter", format_func=lambda f: summary.filter_label(f, results))
method = c2.selectbox("Headline figure of", methods, key="datasets_filter_method",
                      disabled=how != "worst headline figure")
limit = c3.number_input("At most", 1, 100_000, 500, step=50, key="datasets_limit")
try:
    shown = summary.filter_items(table, results, how, method, int(limit))
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
st.caption(f"{len(shown):,} of {len(table):,} items. Click a column's header to sort by it; select a row to see "
           "its maps beside its input.")
WIDTHS = {"path": 180, "label": 70, "prediction": 90, "confidence": 100, "correct": 80, "figure": 140}  # px
config = {"input_id": None, "path": st.column_config.TextColumn(width=WIDTHS["path"]),
          "label": st.column_config.TextColumn(width=WIDTHS["label"]),
          "prediction": st.column_config.TextColumn(width=WIDTHS["prediction"]),
          "confidence": st.column_config.NumberColumn(format="percent", width=WIDTHS["confidence"]),
          "correct": st.column_config.CheckboxColumn("correct", width=WIDTHS["correct"])}
config.update({c: st.column_config.NumberColumn(format="%.4g", width=WIDTHS["figure"])
               for c in shown.columns if " · " in c or c == "agreement"})
event = st.dataframe(shown, hide_index=True, column_config=config, on_select="rerun", selection_mode="single-row",
                     key="datasets_items", width="stretch")
picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
paths = shown["path"].tolist()
pick = paths[picked[0]] if picked and picked[0] < len(paths) else None
if pick is not None and st.session_state.get("datasets_last_pick") != pick:  # a new row selected: it is the item
    st.session_state["datasets_item"] = pick
st.session_state["datasets_last_pick"] = pick
item_path = st.selectbox("Item", paths, index=None, key="datasets_item", placeholder="Select a row, or pick one here")
if item_path is None:
    st.stop()


# ---- one item: its maps beside its input --------------------------------------------------------------------------
row = shown[shown["path"] == item_path].iloc[0]
key = row["input_id"]
verdict = "" if row["correct"] is None or str(row["correct"]) == "<NA>" else (" — right" if bool(row["correct"])
                                                                             else " — wrong")
st.markdown(f"**{plain(item_path)}**: label {plain(row['label'])}, predicted {plain(row['prediction'])}"
            + (f" ({row['confidence']:.1%})" if row["confidence"] == row["confidence"] else "") + verdict)
if isinstance(row.get("error"), str):
    st.error(plain(row["error"]))
explanations = summary.item_explanations(results, key)
x = None
try:
    x = summary.read_input(results, item_path)
except Exception as exc:  # noqa: BLE001
    show_error(exc)
columns = st.columns(1 + len(explanations)) if results.modality == "image" else [st.container()] * (
    1 + len(explanations))
with columns[0]:
    st.markdown("**Input**")
    if x is not None and results.modality == "image":
        st.image(x, clamp=True, width="stretch")
    elif isinstance(x, str):
        st.text(x[:2000])
    elif isinstance(x, dict):
        st.dataframe({"feature": list(x), "value": [str(v) for v in x.values()]}, hide_index=True,
                     key="datasets_row")
for k, e in enumerate(explanations):
    with columns[1 + k]:
        figures = ", ".join(f"{name} {v:.3g}" for name, v in e.faithfulness.items())
        st.markdown(f"**{plain(e.method)}** for {plain(e.target_label)}")
        st.caption(f"{duration(e.runtime_s)}, {e.n_forward} forward / {e.n_backward} backward passes"
                   + (f"; {figures}" if figures else ""))
        try:
            for view in explanation_views(e, x)[:1]:
                if renderer(view.kind).html is not None:
                    st.html(view_html(view))
                else:
                    st.plotly_chart(renderer(view.kind).plotly(view.data), key=f"datasets_view:{key}:{e.method}")
        except Exception as exc:  # noqa: BLE001 - a map no figure kind draws (a dataset-wide method's)
            show_error(exc)

if explanations and st.button("Add this item to the report", key=f"datasets_report:{key}",
                              help="Each method's map of this input, with its figures, goes to the Report page."):
    try:
        made = [ReportItem(e, x, identity, summary.item_prediction(results, key), input_name=item_path)
                for e in explanations] if x is not None else []
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        made = []
    if made:
        items = admit_to_report(made)
        st.toast(f"Added {len(made)} maps of {item_path} to the report ({len(items)} items).")
    elif x is None:
        st.warning("The input cannot be read, so the item cannot go to the report.")
with st.expander("The job's manifest"):
    st.code(json.dumps(results.manifest, indent=2, default=str)[:20_000], language="json")
