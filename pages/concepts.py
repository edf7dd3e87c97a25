"""Concepts page: CRAFT over a set of images of one class — what the model sees, how much each concept matters."""

import hashlib
from collections import Counter

import streamlit as st

from explainers import explain, get_method
from explainers.core.cost import estimate
from models.inputs.images import UPLOAD_TYPES, decode_image, decode_zip
from models.inputs.samples import IMAGE_SAMPLES, sample_views
from models.units import duration
from pages.widgets import (
    app_runs_first,
    add_to_report,
    choose_image_model,
    kept_upload,
    memory_caption,
    method_params,
    plain,
    run_with_progress,
    show_error,
)
from reports.describe import concept_name
from reports.figures import renderer
from reports.figures.ranked_bars import concept_bars

app_runs_first()

st.title("Concepts (CRAFT)")
st.caption(
    "Heatmaps say *where* a model looks; concepts say *what* it sees there. CRAFT cuts images of one class into "
    "crops, factorises the model's activations on them into a bank of concepts, and measures how much each "
    "concept drives the class (Fel et al., CVPR 2023; Lens framework, NeurIPS 2023)."
)

model = choose_image_model()
if model is None:
    st.stop()
if not model.supports_layers:
    st.error("Concept extraction needs the model's activations at a layer; TorchScript models take no hooks.")
    st.stop()


@st.cache_data(max_entries=4, show_spinner="Reading the images…")
def _decode_uploads(files: tuple[tuple[str, bytes], ...]):
    images = []
    for name, data in files:
        if name.lower().endswith(".zip"):
            images.extend(decode_zip(data))
        else:
            images.append((name, decode_image(data)))
    return images


FOLDER = "A folder (a dataset job on Ray)"
JOB = "concept_job"


def _folder_job(model) -> None:
    """Hundreds of images of one class in a folder or ZIP on the server: CRAFT as a dataset job on Ray
    (``explainers.batch.craft_job``), run by a thread of the server so a page switch loses nothing; its result
    becomes the page's."""
    from explainers.batch.craft_job import run_craft
    from models import list_models
    from models.cache import cache_dir
    from pages import background_jobs

    if model.name not in list_models():
        st.error("A dataset job loads its model on each Ray worker by name: choose an embedded model for a folder "
                 "(or use Upload with this one).")
        st.stop()
    path = st.text_input("Folder or ZIP of images of one class (on the server)", key="concept_folder",
                         placeholder="/path/to/images — hundreds of images of one class").strip()
    if not path:
        st.info("Type the path of a folder (or ZIP) of images of one class; CRAFT then runs as a dataset job.")
        st.stop()
    try:
        items = _folder_items(path, model.name)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    readable = [i for i in items if i.error is None]
    left_out = len(items) - len(readable)
    st.caption(f"{len(readable):,} images" + (f" ({left_out} files left out: not readable images)" if left_out
                                               else "") + f" in {plain(path)}.")
    if not readable:
        st.stop()
    c1, c2 = st.columns([3, 1])
    target = c1.selectbox("Class (type to search)", [None, *range(len(model.labels))], key="concept_folder_target",
                          format_func=lambda i: "the images' most frequent top-1 class" if i is None
                          else f"{model.labels[i]} ({i})")
    workers = int(c2.number_input("Workers (0: one per core)", 0, 256, 0, key="concept_folder_workers")) or None
    spec = get_method("craft", "image")
    params = method_params(spec, model, expanded=True)
    n_forward, n_backward, seconds = estimate(model, "craft", params)
    n = len(readable)
    st.caption(f"Estimated cost: {(n_forward + 1) * n:,} forward + {n_backward * n:,} backward passes ≈ "
               f"{duration(seconds * n)} of work on {model.device_description}, shared among the workers (each "
               "image's crops, its coefficients, the importances; one factorisation on this server).")
    out = str(cache_dir() / "jobs" / "concepts")
    job = background_jobs.get(st.session_state.get(JOB))
    if st.button("Run", type="primary", key="concept_folder_run", disabled=job is not None and job.running):
        steps = iter(range(1, 4))

        def run(progress, cancel):
            progress(0, 3)
            return run_craft(path, model.name, params, out, target=target, workers=workers, cancel=cancel,
                             progress=lambda _sentence: progress(next(steps, 3), 3))

        try:
            job = background_jobs.start(f"CRAFT of {n} images in {path}", out, run)
            st.session_state[JOB] = job.id
        except Exception as exc:  # noqa: BLE001
            st.error(plain(str(exc)))
    if job is not None:
        _folder_job_status(model, path, items)


@st.cache_data(max_entries=4, show_spinner="Listing the images…")
def _folder_items(path: str, model_name: str):
    from explainers.batch.reader import read_items
    from models import load_model

    return read_items(path, load_model(model_name))


@st.fragment(run_every=1.0)
def _folder_job_status(model, path, items) -> None:
    """The folder job's steps while it runs (the rest of the page usable), Cancel, and its result once it ends."""
    from models.errors import LumenError
    from pages import background_jobs

    job = background_jobs.get(st.session_state.get(JOB))
    if job is None:
        return
    if job.running:
        steps = ["crops and activations on the workers", "the factorisation and the importances", "the gallery"]
        st.progress(job.done / 3, text=f"{plain(job.label)}: step {min(job.done + 1, 3)} of 3 "
                                       f"({steps[min(job.done, 2)]})")
        if st.button("Cancel", key="concept_folder_cancel"):
            job.cancel.set()
        return
    if job.error is not None:
        why = plain(str(job.error)) if isinstance(job.error, LumenError) else type(job.error).__name__
        st.error(f"The CRAFT job stopped: {why}.")
        return
    e, summary = job.summary
    stored = st.session_state.get("concept_result")
    if stored is None or stored[1] is not e:
        st.session_state["concept_result"] = (("folder", job.id), e)
        st.session_state["concept_folder_shown"] = job.id
        st.rerun(scope="app")


source = st.radio("Images", ["Sample views", "Upload", FOLDER], horizontal=True, key="concept_source")
if source == FOLDER:
    _folder_job(model)
    from explainers.batch.reader import LoadedInputs

    items = [i for i in _folder_items(st.session_state["concept_folder"].strip(), model.name) if i.error is None]
    stored = st.session_state.get("concept_result")
    if stored is None or stored[0][0] != "folder" or stored[0][1] != st.session_state.get("concept_folder_shown"):
        st.stop()
    named = None
    images, names = LoadedInputs(model, items), [i.path for i in items]
    set_id, sample = f"folder:{stored[0][1]}", None
elif source == "Sample views":
    c1, c2 = st.columns([3, 1])
    sample = c1.selectbox("Sample", [n for n in IMAGE_SAMPLES if "digit" not in n], key="concept_sample")
    n_views = int(c2.number_input("Views", 2, 32, 8, key="concept_views"))
    st.caption("No package ships several photos of one class, so the sample set is random crops and mirrors of one photo.")
    named = [(f"view {i + 1}", v) for i, v in enumerate(sample_views(sample, n_views))]
    set_id = f"sample:{sample}:{n_views}"
else:
    uploads = kept_upload(
        "Upload images of one class (several files, or a ZIP)", type=[*UPLOAD_TYPES, "zip"],
        accept_multiple_files=True, key="concept_uploads",
    )
    if not uploads:
        st.info("Upload a few images of one class (8 or more is best), or switch to the sample views.")
        st.stop()
    files = tuple((u.name, u.getvalue()) for u in uploads)
    try:
        named = _decode_uploads(files)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence
        show_error(exc)
        st.stop()
    set_id = hashlib.sha1(b"".join(hashlib.sha1(d).digest() for _, d in files)).hexdigest()[:16]
source_is_upload = set_id is not None and not set_id.startswith("sample:")

if source != FOLDER:  # a folder job chose its class and parameters above, and its result is in stored
    names = [n for n, _ in named]
    images = [im for _, im in named]
    st.image(images[:16], caption=[plain(n) for n in names[:16]], width=96)
    if len(images) > 16:
        st.caption(f"… and {len(images) - 16} more ({len(images)} images).")

    top1 = [model.predict(im).top(1)[0][0] for im in images]
    common = Counter(top1).most_common(1)[0][0]
    target = st.selectbox(
        "Class (type to search)", range(len(model.labels)), index=common,
        format_func=lambda i: f"{model.labels[i]} ({i}) — top-1 of {top1.count(i)}/{len(images)} images",
        key=f"concept_target:{model.name}:{set_id}",
    )

    spec = get_method("craft", "image")
    params = method_params(spec, model, expanded=True)
    try:
        n_forward, n_backward, seconds = estimate(model, "craft", params)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    st.caption(
        f"Estimated cost: {n_forward * len(images)} forward + {n_backward * len(images)} backward passes "
        f"≈ {duration(seconds * len(images))} on {model.device_description} ({len(images)} images; passes × measured time "
        "per pass, plus the factorisation)."
    )
    memory_caption(model, {"craft": params}, n_images=len(images))

    key = (model.name, set_id, target, tuple(sorted(params.items())))
    if st.button("Run", type="primary", key="concept_run"):
        e = run_with_progress("craft", lambda progress: explain(model, images, method="craft", target=target,
                                                               progress=progress, **params))
        if e is not None:
            st.session_state["concept_result"] = (key, e)

    stored = st.session_state.get("concept_result")
    if stored is None or stored[0] != key:
        st.info("Choose the class and the parameters, then press **Run**.")
        st.stop()
e = stored[1]
x = e.extras
order = [int(i) for i in (-e.scores).argsort(kind="stable")]
timings = " · ".join(f"{k.removesuffix('_s')} {duration(v)}" for k, v in x["timings"].items())
st.caption(
    f"craft for **{e.target_label}** · {duration(e.runtime_s)} ({timings}) · {e.n_forward} forward + "
    f"{e.n_backward} backward passes, {x['n_head_passes']} through the head · {x['n_crops']} crops · "
    f"layer {x['layer']} · device {e.device}"
)

if source == FOLDER:  # hundreds of images: the report keeps the first 8 beside the explanation of all of them
    add_to_report(model, images[:8], e, key="concepts",
                  input_name=f"{len(images)} images in {st.session_state['concept_folder'].strip()} (the first 8 kept)")
else:
    add_to_report(model, images, e, key="concepts",  # the files (or the sample's views) by name
                  input_name=f"{len(images)} images: " + ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
                  if source_is_upload else f"{len(images)} views of {sample}")
left, right = st.columns([3, 2])
with left:
    st.plotly_chart(renderer("ranked_bars").figure(e, title=f"Global importance ({e.params['importance']}) for "
                                                         f"{e.target_label}"),
                    width="stretch", key="concept_importance")
with right:
    st.markdown("**Lens metrics**")
    m = x["metrics"]
    a, b = st.columns(2)
    a.metric("Reconstruction error", f"{m['reconstruction_error']:.3f}", help="‖A − UW‖ / ‖A‖ on the crops; lower is better.")
    b.metric("Sparsity of U", f"{m['sparsity']:.0%}", help="Share of zero concept coefficients.")
    a.metric("C-Deletion", f"{m['c_deletion']:.3f}", help="Area under the class logit as concepts are removed by importance; lower is better.")
    b.metric("C-Insertion", f"{m['c_insertion']:.3f}", help="Area under the class logit as concepts are added by importance; higher is better.")
    a.metric("C-µFidelity", f"{m['c_mufidelity']:.3f}", help="Correlation of summed importance and logit drop over random concept subsets; higher is better.")

st.subheader("What each concept looks like")
st.caption("The crops where each concept is strongest, most important concept first.")
for i in order:
    st.markdown(f"**{concept_name(i)}** — importance {e.scores[i]:.4f}")
    st.image(list(x["concept_crops"][i]), width=88)

st.subheader("Concepts in one image")
c1, c2, c3 = st.columns([2, 1, 1])
chosen = c1.selectbox("Image", range(len(images)), format_func=lambda k: f"{names[k]} — predicted {x['predictions'][k]}",
                      key="concept_image")
k_top = int(c2.slider("Top concepts shown", 1, len(order), min(3, len(order)), key="concept_topk"))
opacity = c3.slider("Opacity", 0.0, 1.0, 0.6, 0.05, key="concept_opacity")
local = x["importance_local"][chosen]
shown = [int(i) for i in (-local).argsort(kind="stable")[:k_top]]
left, right = st.columns([3, 2])
with left:
    st.plotly_chart(renderer("concept_maps").figure(images[chosen], x["concept_maps"][chosen], shown, opacity),
                    width="stretch", key="concept_maps")
with right:
    st.plotly_chart(renderer("ranked_bars").plotly(concept_bars(local, "Local importance")), width="stretch",
                    key="concept_local")

st.subheader("Strategic cluster graph")
st.caption("Each image goes to its most important concept. Prevalence: the share of images it dominates; "
           "reliability: how often the model is right on those images. Size: global importance.")
clusters = x["clusters"]
st.plotly_chart(renderer("cluster_graph").figure(clusters["prevalence"], clusters["reliability"], e.scores),
                width="stretch",
                key="concept_clusters")
