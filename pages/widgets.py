"""Widgets and caches shared by the pages. Wiring only: the logic lives in the libraries."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import re
import runpy
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import streamlit as st
from streamlit.errors import FragmentHandledException, StreamlitAPIException
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from models import (
    LABEL_FILE_TYPES,
    MODEL_SOURCES,
    InputError,
    LumenError,
    describe_model,
    list_architectures,
    list_models,
    load_model,
)
from explainers.core.modality import get_modality
from explainers.core.registry import get_method
from explainers.core.budget import gigabytes, run_budget
from explainers.core.cost import estimate_memory
from explainers.generation.methods import MAX_NEW_TOKENS
from models.inputs.images import UPLOAD_TYPES, decode_image
from models.locks import waiting_reports
from models.units import duration
from models.preparing import preparation_reports
from models.inputs.samples import IMAGE_SAMPLES, sample_image
from models.inputs.text_samples import TEXT_SAMPLES
from models.inputs.texts import UPLOAD_TYPES as TEXT_UPLOAD_TYPES
from models.adapters.causal_lm import MAX_TARGET_CHARS
from models.inputs.texts import MAX_CHARS, clean_text
from pages.bounded_cache import BoundedCache

log = logging.getLogger("lumen")


class _ServerModels(NamedTuple):
    models: dict  # name -> the loaded model
    locks: dict  # name -> the lock its load holds (two sessions asking at once: one load)
    guard: threading.Lock


@st.cache_resource(show_spinner=False)
def _server_models() -> _ServerModels:
    """The embedded models this server loaded (emptied by Streamlit's "Clear caches"). Not a cached function per
    model: Streamlit would record the status box a first load draws and replay it on every later call."""
    return _ServerModels({}, {}, threading.Lock())


def _main_area_slot():
    """An ``st.empty()`` at the end of the page's main area, also inside a ``with st.sidebar:`` block."""
    try:
        from streamlit.delta_generator_singletons import context_dg_stack
    except ImportError:  # another Streamlit: where the page is
        return st.empty()
    stack = context_dg_stack.get()
    context_dg_stack.set(stack[:1])  # the main area only
    try:
        return st.empty()
    finally:
        context_dg_stack.set(stack)


def cached_model(name: str):
    """An embedded or bundled model (a fixed set: kept for the server's life). Its first load on this server
    (which, the first time ever, builds and caches it: up to minutes on 2 cores) shows in the page's main area,
    not only in the sidebar: a status box with the step it is at and its progress (``models.preparing``)."""
    server = _server_models()
    model = server.models.get(name)
    if model is not None:
        return model
    try:
        title = describe_model(name).split(",")[0]
    except Exception:  # noqa: BLE001 - a tabular model id: its own name
        title = name
    slot = _main_area_slot()  # the page's main area, also when the model is chosen in the sidebar
    box = slot.status(f"Preparing {title} (first use on this server, kept after)…", expanded=True)
    bar = box.progress(0.0, text="Starting…")
    steps = st.session_state.setdefault("lumen_preparation_steps", [])

    def report(k: int, n: int, text: str, share: float | None) -> None:
        if not steps or steps[-1] != (name, k, n, text):  # the steps it went through (a test reads them)
            steps.append((name, k, n, text))
        bar.progress(min(1.0, (k - 1 + (share or 0.0)) / max(n, 1)),
                     text=f"Step {k} of {n}: {text}" + ("" if share is None else f" ({share:.0%})"))

    with server.guard:
        lock = server.locks.setdefault(name, threading.Lock())
    try:
        if not lock.acquire(blocking=False):  # another session prepares it: wait for that load
            bar.progress(0.0, text="Another session is preparing it; waiting for it…")
            lock.acquire()
        try:
            model = server.models.get(name)
            if model is None:
                with preparation_reports(report):
                    model = server.models[name] = load_model(name)
        finally:
            lock.release()
    finally:
        slot.empty()
    return model


# What grows with use is kept in bounded stores, shared by every session of the server; an eviction is said on the
# page of the session that caused it (Streamlit's own caches evict silently).
MAX_USER_MODELS = 4
MAX_IMAGES, MAX_IMAGE_BYTES = 8, 512 * 2**20
MAX_CONTINUATIONS = 16
MODELS_NOTE = "Lumen keeps the last {n} models loaded from files or directories; the oldest, {oldest}, was unloaded."
IMAGES_NOTE = "Lumen keeps the last {n} decoded images; the oldest, {oldest}, was let go (decoded again if needed)."
CONTINUATIONS_NOTE = "Lumen keeps the last {n} generated continuations; the oldest, for {oldest}, was let go."


class _Entry(NamedTuple):
    value: object
    label: str
    owner: str  # the session that stored it: only that one is told its label


@st.cache_resource(show_spinner=False)
def _store(name: str, max_entries: int, max_bytes: int | None = None) -> BoundedCache:
    """One store per name for the whole server (emptied by Streamlit's "Clear caches")."""
    size = (lambda entry: getattr(entry.value, "nbytes", 0)) if max_bytes else None
    return BoundedCache(max_entries, max_bytes, size)


def plain(text) -> str:
    """``text`` (a file, column, class or token name) shown as itself in Streamlit markdown: no links, images,
    HTML, emphasis, headings or LaTeX. Every user string a page puts into markdown (captions, st.markdown,
    st.info...) goes through it, or through ``plain_sentence`` when it is a whole sentence."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~$:@])", r"\\\1", str(text))


def plain_sentence(text) -> str:
    """A sentence that quotes user strings (a Lumen error, a note on a CSV) as text in Streamlit markdown, its
    punctuation kept readable: what makes links, images, HTML, code or LaTeX is escaped, and bare URLs and
    e-mail addresses are broken so they are not turned into links."""
    text = re.sub(r"([\\`*_\[\]<>!|~$@])", r"\\\1", str(text))
    return re.sub(r"(?i)(www)\.", r"\1\\.", text.replace("://", ":\\/\\/"))


def _session_id() -> str:
    return st.session_state.setdefault("lumen_session_id", uuid.uuid4().hex)


def remember(store: BoundedCache, key, load, label: str, note: str, spinner: str | None = None):
    """``store``'s value for ``key``, else ``load()``'s, stored; when storing it evicts older entries the page says
    so with ``note`` (formatted with ``n``, the bound, and ``oldest``, named only to the session that stored it)."""
    entry = store.get(key)
    if entry is None:
        with st.spinner(spinner) if spinner else contextlib.nullcontext():
            entry = _Entry(load(), label, _session_id())
        for _, old in store.put(key, entry):
            oldest = plain(old.label) if old.owner == entry.owner else "one from another session"
            st.caption(note.format(n=store.max_entries, oldest=oldest))
    return entry.value


def cached_decode(data: bytes, name: str = "an image", digest: str | None = None):
    """The decoded image (a copy: the stored one is shared with other sessions); ``digest``: data's SHA-256, if known."""
    image = remember(_store("images", MAX_IMAGES, MAX_IMAGE_BYTES), digest or hashlib.sha256(data).hexdigest(),
                     lambda: decode_image(data), name, IMAGES_NOTE, "Decoding the image…")
    return image.copy()


def show_error(exc: Exception) -> None:
    """One readable sentence for the user; the traceback goes to the server log only."""
    if isinstance(exc, LumenError):
        st.error(plain_sentence(str(exc)))
    else:  # its message may hold server paths or internals: the log has it, the page names only the type
        log.exception("unexpected error")
        st.error(f"Something went wrong ({type(exc).__name__}); the details are in the server log, and the "
                 "session keeps working, so change something or try again.")


def run_page(page) -> None:
    """Run the chosen page: an unexpected error becomes one sentence on the page and a traceback in the log.
    Around it: the widget values of every page are kept (``keep_widget_values``), and the report comes back from
    the server on a reload and is saved there as it changes (``restore_report``, ``save_report``)."""
    st.session_state["lumen_run"] = st.session_state.get("lumen_run", 0) + 1
    keep_widget_values()
    restore_report()
    try:
        page.run()
    except (ScriptControlException, FragmentHandledException):
        raise  # st.stop, st.rerun, st.switch_page and fragments steer the script: not errors
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
    finally:
        save_report()


# ---- nothing a user made is lost by switching pages ----------------------------------------------------------------
# Streamlit forgets the value of a widget that a run does not draw (every widget of the pages not shown). Each run
# starts by copying the values of the widgets the last run drew into this session's own dict, and by giving back to
# every widget that is missing now its last value; the first run of another page gives back every kept value as one
# set by the app (a widget of the same key drawn on two pages, such as the image choice of the Image and Compare pages,
# owns its value on the page that drew it last, and would start from its default here): a page left and opened again
# looks as it was left.
KEPT_WIDGETS = "lumen_widget_values"
MAX_KEPT_WIDGETS = 1000  # per session: the least recently changed go first
# buttons, uploads and chat inputs cannot be given a value through st.session_state; a data editor's edits neither
_NOT_RESTORABLE = {"trigger_value", "string_trigger_value", "json_trigger_value", "file_uploader_state_value",
                   "chat_input_value"}


def _restorable(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(_restorable(v) for v in value)


def keep_widget_values() -> None:
    """Keep the values of this session's keyed widgets across page switches (see above); called by ``run_page``."""
    from streamlit.runtime.state import get_session_state

    state = st.session_state
    kept = state.setdefault(KEPT_WIDGETS, {})
    try:
        internal = get_session_state()._state  # the widgets' kinds are known only there
        for key in list(state.keys()):
            widget_id = internal.get_widget_id_from_key(key)
            metadata = internal.get_widget_metadata(widget_id) if widget_id else None
            if metadata is None or metadata.value_type in _NOT_RESTORABLE:
                continue
            value = state[key]
            if _restorable(value) and kept.get(key, kept) != value:
                kept.pop(key, None)
                kept[key] = value  # the most recently changed last
    except (AttributeError, KeyError):  # another Streamlit: widgets reset on a page switch, as Streamlit does
        log.warning("cannot keep widget values with this Streamlit", exc_info=True)
    while len(kept) > MAX_KEPT_WIDGETS:
        kept.pop(next(iter(kept)))
    switched = _page_switched(state)
    for key, value in list(kept.items()):
        if value is None or (key in state and not switched):  # None: nothing chosen (an uploader without a file
            continue  # is None, and a value set for an uploader is refused when it is drawn)
        try:
            state[key] = value
        except StreamlitAPIException:
            kept.pop(key, None)


def _page_switched(state) -> bool:
    """Whether this run shows another page than the last run of this session did."""
    ctx = get_script_run_ctx()
    page = getattr(ctx, "page_script_hash", None)
    last, state["lumen_last_page"] = state.get("lumen_last_page"), page
    return page != last


# ---- a view shared as a URL ------------------------------------------------------------------------------------------
VIEW_FIELDS = ("model", "sample", "class", "methods")  # and each method's parameters, as "method.parameter"


@dataclass(frozen=True)
class ViewSpec:
    """What a page keeps in its URL: the state keys its model and sample widgets read."""

    page: str  # "image", "text": the prefix of this view's session keys
    modality: str
    model_keys: tuple[str, str, str]  # (source widget key, its value for an embedded model, the model name's key)
    samples: tuple[str, ...]  # the bundled samples a link may name
    sample_keys: tuple[tuple[str, str], ...] = ()  # other widgets the sample needs: (key, value), e.g. the source
    sample_key: str = ""  # the sample widget's key


IMAGE_VIEW = ViewSpec("image", "image", ("model_source", "embedded", "image_model"), tuple(IMAGE_SAMPLES),
                      (("image_source", "Sample"),), "image_sample")
TEXT_VIEW = ViewSpec("text", "text", ("text_model_source", "Embedded", "text_model"), tuple(TEXT_SAMPLES),
                     (), "text_sample")


def _view_in_url() -> dict[str, str]:
    """The view's fields in the URL: ``VIEW_FIELDS`` and every method parameter (``method.parameter``)."""
    return {name: st.query_params[name] for name in st.query_params if name in VIEW_FIELDS or _is_param(name)}


def _is_param(name: str) -> bool:
    return "." in name  # a method's parameter: "grad-cam.layer", "rise.n_masks"


def open_view(view: ViewSpec) -> None:
    """On a session's first run (a shared link opened, or a reload), when the URL names a view of this page
    (``?model=…&sample=…&class=…&methods=a,b&a.param=…``), its model and sample are chosen now; the class, methods and
    parameters wait for the model (``view_choices``). Unknown values are ignored with a note."""
    state = st.session_state
    if state.get("lumen_run", 1) > 1:  # a link opened (or a reload) starts a session; later runs read the widgets
        return  # (a page switch may carry another page's view in the URL)
    fields = _view_in_url()
    if not fields or fields == state.get(f"{view.page}_view_written"):
        return
    state[f"{view.page}_view_written"] = fields
    notes = []
    if "model" in fields:
        source_key, embedded, name_key = view.model_keys
        if fields["model"] in list_models(view.modality):
            state[source_key], state[name_key] = embedded, fields["model"]
        else:
            notes.append(f"model {plain(repr(fields['model'][:60]))} is not an embedded {view.modality} model")
    if "sample" in fields:
        if fields["sample"] in view.samples:
            state.update(dict(view.sample_keys))
            state[view.sample_key] = fields["sample"]
        else:
            notes.append(f"sample {plain(repr(fields['sample'][:60]))} is not a bundled {view.modality} sample")
    state[f"{view.page}_view_pending"] = {k: v for k, v in fields.items() if k in ("class", "methods") or _is_param(k)}
    state[f"{view.page}_view_notes"] = notes


def _param_value(spec, model, name: str, text: str):
    """A method parameter from its text in a URL, checked as its widget would (type, choices, limits, layers);
    raises ValueError with the reason."""
    default = spec.defaults[name]
    if name == "layer":
        if text not in {n for n, _ in model.module.named_modules() if n}:
            raise ValueError("not a layer of the model")
        return text
    if name in spec.choices:
        value = next((c for c in spec.choices[name] if str(c) == text), None)
        if value is None:
            raise ValueError(f"not one of {', '.join(map(str, spec.choices[name]))}")
        return value
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError("not true or false")
        return text.lower() == "true"
    if isinstance(default, (int, float, np.integer, np.floating)):
        value = int(text) if isinstance(default, (int, np.integer)) else float(text)
        low, high = spec.limits.get(name, (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"outside {low}…{high}")
        return value
    raise ValueError("not set from the page")


def _view_params(model, pending: dict, known: set[str], notes: list[str]) -> None:
    """The shared view's method parameters given to their widgets (``method_params``' keys) before they are drawn."""
    state = st.session_state
    for field, text in pending.items():
        if not _is_param(field):
            continue
        method, name = field.split(".", 1)
        spec = get_method(method, model.modality) if method in known else None
        try:
            if spec is None or name not in spec.defaults:
                raise ValueError("no such parameter")
            value = _param_value(spec, model, name, text)
        except ValueError as exc:
            notes.append(f"{plain(field[:60])} = {plain(repr(text[:40]))} ({plain(str(exc))})")
            continue
        state[f"param:{method}:{name}" + (f":{model.name}" if name == "layer" else "")] = value


def view_choices(view: ViewSpec, model, target_key: str, method_keys: dict[str, list[str]]) -> None:
    """The shared view's class, methods and parameters, set before their widgets are drawn (``method_keys``: each
    methods widget's key and the ids it offers); then the page says what it ignored, and that Run computes it."""
    state = st.session_state
    pending = state.pop(f"{view.page}_view_pending", None)
    if pending is None:
        return
    notes = state.pop(f"{view.page}_view_notes", [])
    if "class" in pending:
        wanted = pending["class"].strip()
        by_label = {label.lower(): i for i, label in enumerate(model.labels)}
        index = int(wanted) if wanted.isdigit() else by_label.get(wanted.lower())
        if index is not None and 0 <= index < len(model.labels):
            state[target_key] = index
        else:
            notes.append(f"class {plain(repr(wanted[:60]))} is not one of the model's classes")
    known = {m for ids in method_keys.values() for m in ids}
    if "methods" in pending:
        wanted = [m.strip() for m in pending["methods"].split(",") if m.strip()]
        unknown = [m for m in wanted if m not in known]
        for key, ids in method_keys.items():
            state[key] = [m for m in ids if m in wanted]
        if unknown:
            notes.append(f"method{'s' if len(unknown) > 1 else ''} {plain(', '.join(unknown[:5]))} "
                         f"{'are' if len(unknown) > 1 else 'is'} not available for this model")
    _view_params(model, pending, known, notes)
    st.info(f"Opened from a link: its model, {view.modality}, class, methods and parameters are chosen; press "
            "**Run** to compute them." + (f" Ignored: {'; '.join(notes)}." if notes else ""))


def write_view(view: ViewSpec, model_name: str | None, sample: str | None, target: int,
               methods: dict[str, dict]) -> None:
    """Put the page's current view in the URL, so that the address can be shared (an upload or typed text is not
    in it): model, sample, class, methods and each method's parameters that differ from its defaults
    (``grad-cam.layer=…``)."""
    fields = {"model": model_name, "sample": sample, "class": str(target), "methods": ",".join(methods)}
    fields.update({f"{m}.{name}": str(value) for m, params in methods.items() for name, value in params.items()})
    fields = {k: v for k, v in fields.items() if v}
    if _view_in_url() != fields:
        for name in list(_view_in_url()):
            if name not in fields:
                del st.query_params[name]
        st.query_params.update(fields)
    st.session_state[f"{view.page}_view_written"] = fields


# ---- the report, saved on the server as it changes ------------------------------------------------------------------
def _report_signature():
    items = st.session_state.get("report_items") or []
    views = st.session_state.get("report_views") or []
    return (tuple(id(item) for item in items), st.session_state.get("report_title", "Lumen report"),
            tuple(id(view) for view in views))


def restore_report() -> None:
    """First run of a session whose URL names a report (``?report=<id>``: a reload, or the link opened elsewhere):
    its saved bundle becomes this session's report. Later runs keep the id in the URL while the report has items."""
    from reports import saved

    state = st.session_state
    if "report_id" not in state:
        wanted = st.query_params.get("report")
        state["report_id"] = wanted if saved.valid_id(wanted) else saved.new_id()
        if wanted is not None and not saved.valid_id(wanted):
            st.caption(f"The link's report id {plain(repr(wanted[:40]))} is not one Lumen makes; it was ignored.")
        elif wanted is not None:
            _load_saved_report(wanted)
    _saved_report_note()
    if (state.get("report_items") or state.get("report_views")) and st.query_params.get("report") != state["report_id"]:
        st.query_params["report"] = state["report_id"]


def _load_saved_report(report_id: str) -> None:
    from reports import saved
    from reports.bundle import read_bundle

    state = st.session_state
    wait_for_saved(report_id)  # a reload right after a change: its save first
    data = saved.load(report_id)
    if data is None:
        st.info(f"No report is saved under this link any more: Lumen keeps the last {saved.MAX_SAVED_REPORTS} "
                "reports, and an emptied report is not kept. A new report starts.")
        return
    try:
        report = read_bundle(data)
    except Exception as exc:  # noqa: BLE001 - a damaged file on the server is a sentence, not a traceback
        log.warning("saved report %s unreadable", report_id, exc_info=True)
        why = plain_sentence(str(exc)) if isinstance(exc, LumenError) else f"{type(exc).__name__}"
        st.warning(f"The report saved under this link could not be read ({why}); a new, empty report starts "
                   "under a new link (the damaged file is left as it is).")
        state["report_id"] = saved.new_id()
        return
    state["report_items"] = list(report.items)
    state["report_views"] = list(report.views)
    state["report_title"] = report.title
    state.get(KEPT_WIDGETS, {}).pop("report_title", None)
    state["report_saved"] = _report_signature()
    views = f" and {len(report.views)} dataset view{'' if len(report.views) == 1 else 's'}" if report.views else ""
    st.toast(f"Your report is back: {len(report.items)} item{'' if len(report.items) == 1 else 's'}{views}.")


@st.cache_resource(show_spinner=False)
def _report_saver():
    """One writer thread for the server (saves run in order: the last one stays) and its pending saves by id."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lumen-report-save"), {}


def _write_saved(report_id: str, title: str, items: list, views: list = ()) -> list[str]:
    from reports import saved
    from reports.bundle import write_bundle
    from reports.report import new_report

    if not items and not views:
        saved.delete(report_id)
        return []
    return saved.save(report_id, write_bundle(new_report(title, items, views=views)))


def wait_for_saved(report_id: str, timeout: float = 300) -> None:
    """Wait until the save of ``report_id`` under way (if any) is written (a reload reads what it wrote)."""
    future = _report_saver()[1].get(report_id)
    if future is not None:
        concurrent.futures.wait([future], timeout=timeout)


def save_report() -> None:
    """Save this session's report on the server when its items, their order or its title changed since the last
    save (an emptied report's file is removed). The bundle is written by a thread (about 0.15 s an image item), so
    the page does not wait; the next run says if it failed, or which older reports were let go."""
    state = st.session_state
    if "report_id" not in state:
        return
    signature = _report_signature()
    if state.get("report_saved", ((), "Lumen report", ())) == signature:
        return
    state["report_saved"] = signature
    items = list(state.get("report_items") or [])
    views = list(state.get("report_views") or [])
    report_id = state["report_id"]
    if (items or views) and st.query_params.get("report") != report_id:
        st.query_params["report"] = report_id
    elif not items and not views and st.query_params.get("report") == report_id:
        del st.query_params["report"]
    executor, pending = _report_saver()
    pending[report_id] = state["report_saving"] = executor.submit(_write_saved, report_id, signature[1], items,
                                                                  views)


def _saved_report_note() -> None:
    """The outcome of this session's last save, once it is written: a failure, or the reports it let go."""
    from reports import saved

    state = st.session_state
    future = state.get("report_saving")
    if future is None or not future.done():
        return
    del state["report_saving"]
    pending = _report_saver()[1]
    if pending.get(state.get("report_id")) is future:
        del pending[state["report_id"]]
    exc = future.exception()
    if exc is not None:  # the report stays in this session; the server copy is what failed
        log.warning("report not saved", exc_info=exc)
        why = plain_sentence(str(exc)) if isinstance(exc, LumenError) else type(exc).__name__
        st.warning(f"The report could not be saved on the server ({why}); it stays in this browser tab until "
                   "it is closed or reloaded.")
    elif evicted := future.result():
        st.caption(f"Lumen keeps the last {saved.MAX_SAVED_REPORTS} saved reports ({saved.MAX_SAVED_MB:,} MB "
                   f"together); the oldest {len(evicted)} {'was' if len(evicted) == 1 else 'were'} let go.")


MAX_UPLOADS, MAX_UPLOAD_BYTES = 16, 512 * 2**20
UPLOADS_NOTE = "Lumen keeps the last {n} uploads; the oldest, {oldest}, was let go."


class KeptUpload(NamedTuple):
    """An upload kept after its widget was left (the same reading methods as Streamlit's UploadedFile)."""

    name: str
    data: bytes
    file_id: str

    def getvalue(self) -> bytes:
        return self.data


class _KeptFiles(NamedTuple):
    files: tuple[KeptUpload, ...]

    @property
    def nbytes(self) -> int:
        return sum(len(f.data) for f in self.files)


def kept_upload(label: str, key: str, **kwargs):
    """``st.file_uploader(label, key=key, **kwargs)`` whose file(s) come back after a page switch: the bytes are
    kept in a bounded store (the page says what it evicts). Files the user removes from the widget are forgotten."""
    upload = st.file_uploader(label, key=key, **kwargs)
    multiple = bool(kwargs.get("accept_multiple_files"))
    store = _store("uploads", MAX_UPLOADS, MAX_UPLOAD_BYTES)
    slot = (_session_id(), key)
    seen = st.session_state.setdefault("lumen_upload_seen", {})
    run = st.session_state.get("lumen_run", 0)
    if upload:
        files = list(upload) if multiple else [upload]
        entry = store.get(slot)
        if entry is None or [f.file_id for f in entry.value.files] != [f.file_id for f in files]:
            kept = _KeptFiles(tuple(KeptUpload(f.name, f.getvalue(), f.file_id) for f in files))
            label_ = ", ".join(f.name for f in files[:3]) + (", …" if len(files) > 3 else "")
            for _, old in store.put(slot, _Entry(kept, label_, slot[0])):
                oldest = plain(old.label) if old.owner == slot[0] else "one from another session"
                st.caption(UPLOADS_NOTE.format(n=store.max_entries, oldest=oldest))
        seen[key] = run
        return upload
    entry = store.get(slot)
    if entry is None:
        return upload
    if seen.get(key) == run - 1:  # the last run drew this widget with the file: the user removed it
        store.pop(slot)
        return upload
    files = entry.value.files
    st.caption(f"Your earlier upload{'s' if len(files) > 1 else ''}, **{plain(entry.label)}** (kept while you "
               f"were on other pages); upload {'others' if len(files) > 1 else 'another file'} to replace "
               f"{'them' if len(files) > 1 else 'it'}.")
    return list(files) if multiple else files[0]


def app_runs_first() -> None:
    """Every page calls this first, so that app.py (its sidebar, ``run_page``'s error boundary) runs around it.

    A folder named ``pages/`` beside app.py makes Streamlit (1.67) start as a legacy multipage app: until
    ``st.navigation`` is first called in the process (and at the start of every AppTest run) a page's URL runs
    that page's file alone, without app.py, and lists every file of the folder as a page. A page that finds
    that mode on runs app.py here, in this same run (so a pressed button stays pressed): its ``st.navigation``
    turns the mode off for the process and runs this page inside ``run_page``; then this outer run stops.
    Checked on a fresh server by tests/e2e/test_browser_urls.py, and through AppTest by tests/app/test_app_shell.py.
    """
    ctx = get_script_run_ctx()
    if ctx is None or not PagesManager.uses_pages_directory:
        return
    runpy.run_path(ctx.pages_manager.main_script_path, run_name="__main__")
    st.stop()


def remember_model(key, load, label: str):
    """A model from the user's files or a directory, kept among the server's last ``MAX_USER_MODELS``."""
    return remember(_store("models", MAX_USER_MODELS), key, load, label, MODELS_NOTE, "Loading your model…")


def user_model(name: str, files: tuple[tuple[str, str, bytes], ...] = (), input_size=None, mean=None, std=None):
    """``files`` are (argument, file name, bytes) of uploads; the model is kept by their content."""
    key = hashlib.sha256(repr((name, input_size, mean, std, [f[:2] for f in files])).encode())
    for _, _, data in files:
        key.update(hashlib.sha256(data).digest())
    names = ", ".join(filename for _, filename, _ in files)
    return remember_model(key.hexdigest(), lambda: _load_user_model(name, files, input_size, mean, std),
                          f"{name} ({names})" if names else name)


def _load_user_model(name: str, files: tuple[tuple[str, str, bytes], ...], input_size, mean, std):
    """Load a user's model, the uploads written to a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="lumen-upload-") as tmp:
        paths = {}
        for argument, filename, data in files:
            path = Path(tmp) / f"{argument}{Path(filename).suffix}"
            path.write_bytes(data)
            paths[argument] = str(path)
        if "model" in paths:  # a TorchScript file is the model itself
            name = f"{name}{paths.pop('model')}"
        return load_model(name, input_size=input_size, mean=mean, std=std, **paths)


def _rgb_triple(text: str, what: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(f"The {what} must be three numbers separated by commas, e.g. 0.5,0.5,0.5.")
    return values


def _user_model_form(source_key: str):
    """Widgets for one kind of user model; returns (name, files, input_size, mean, std) or None until ready."""
    source = MODEL_SOURCES[source_key]
    st.caption(source.description)
    files, missing, name = [], None, source.prefix
    if source_key in ("timm", "torchvision"):
        arch = st.selectbox("Architecture", list_architectures(source_key), index=None,
                            placeholder="type to search…", key=f"arch:{source_key}")
        weights = st.file_uploader("Weights (state dict)", type=list(source.weight_types), key=f"weights:{source_key}")
        if arch is None or weights is None:
            missing = "Choose the architecture and upload its weights."
        else:
            name = f"{source.prefix}{arch}"
            files.append(("weights", weights.name, weights.getvalue()))
    elif source_key == "torchscript":
        scripted = st.file_uploader("TorchScript file", type=["pt", "pth", "ts", "torchscript"], key="weights:ts")
        if scripted is None:
            missing = "Upload a file saved with torch.jit.save."
        else:
            files.append(("model", scripted.name, scripted.getvalue()))
    else:  # Hugging Face
        where = st.text_input("Local directory or hub id", key="hf:where",
                              help="A save_pretrained directory on the server, or a hub id (needs internet).")
        if not where.strip():
            missing = "Give a local directory or a hub id."
        name = f"{source.prefix}{where.strip()}"
    labels = st.file_uploader("Class names (optional)", type=list(LABEL_FILE_TYPES), key=f"labels:{source_key}",
                              help="A .txt with one name per line, or a .json list or {index: name}.")
    if labels is not None:
        files.append(("labels", labels.name, labels.getvalue()))
    input_size = mean = std = None
    with st.expander("Preprocessing (optional)"):
        size = int(st.number_input("Input size (px, 0 = the model's default)", 0, 4096, 0, key=f"size:{source_key}"))
        input_size = size or None
        if st.checkbox("Custom mean/std", key=f"norm:{source_key}"):
            mean = _rgb_triple(st.text_input("mean (R,G,B)", "0.485,0.456,0.406", key=f"mean:{source_key}"), "mean")
            std = _rgb_triple(st.text_input("std (R,G,B)", "0.229,0.224,0.225", key=f"std:{source_key}"), "std")
    if missing:
        st.info(missing)
        return None
    return name, tuple(files), input_size, mean, std


def choose_image_model():
    """The sidebar's model chooser; returns the loaded adapter, or None after showing why not."""
    with st.sidebar:
        source_key = st.selectbox("Model source", list(MODEL_SOURCES), format_func=lambda k: MODEL_SOURCES[k].title,
                                  key="model_source")
        try:
            if source_key == "embedded":
                name = st.selectbox("Image model", list_models("image"), format_func=describe_model, key="image_model")
                model = cached_model(name)
                label = describe_model(name)
            else:
                form = _user_model_form(source_key)
                if form is None:
                    return None
                model = user_model(*form)
                label = model.name
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            return None
        st.caption(f"Model: **{plain(label)}** — loaded · {len(model.labels)} classes · {model.device_description}")
    return model


MAX_IMAGE_NAMES = 256


def choose_image():
    """A bundled sample or an upload: (H×W×3 uint8 image, a stable id), or (None, None) after a message."""
    source = st.radio("Image source", ["Sample", "Upload"], horizontal=True, key="image_source")
    if source == "Sample":
        name = st.selectbox("Sample image", list(IMAGE_SAMPLES), key="image_sample")
        return sample_image(name), f"sample:{name}"
    upload = kept_upload(
        "Upload an image",
        key="image_upload",
        type=list(UPLOAD_TYPES),
        help="PNG, JPEG, WebP, BMP, TIFF or GIF (first frame), up to 50 megapixels.",
    )
    if upload is None:
        st.info("Upload an image, or switch to a bundled sample.")
        return None, None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()  # hashed once per run: the cache key and the image's id
    names = st.session_state.setdefault("image_names", {})  # what the report calls each upload
    names[digest[:16]] = upload.name
    while len(names) > MAX_IMAGE_NAMES:  # bounded: the oldest names go (a report item keeps its own copy)
        names.pop(next(iter(names)))
    try:
        return cached_decode(data, upload.name, digest), digest[:16]
    except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence
        show_error(exc)
        return None, None


DEFAULT_LAYER = "<default>"  # the layer selector's option for the method's own layer (no module bears this name)


def image_name(image_id: str | None) -> str | None:
    """The name a report gives the image of ``choose_image``'s id: the upload's file name, or the sample's name."""
    if not image_id:
        return None
    if image_id.startswith("sample:"):
        return image_id.split(":", 1)[1]
    return st.session_state.get("image_names", {}).get(image_id, image_id)


def method_params(spec, model, expanded: bool = False, hidden: tuple[str, ...] = ()) -> dict:
    """One widget per parameter of a method, from its defaults; returns only the values that differ.
    Number widgets carry the method's limits (``register(..., limits=...)``), so no value beyond them is sent.
    ``hidden``: parameters the page sets itself for every method (no widget that it would ignore)."""
    values = {}
    with st.expander(f"{spec.id} — parameters", expanded=expanded):
        st.caption(spec.summary)
        for name, default in spec.defaults.items():
            if name in hidden:
                continue
            key = f"param:{spec.id}:{name}"
            if name == "layer":
                # the default is a named option, not None: a selectbox showing None reads "Choose an option"
                layers = [n for n, _ in model.module.named_modules() if n]
                value = st.selectbox(
                    "layer (where the activations are read)", [DEFAULT_LAYER, *layers], key=f"{key}:{model.name}",
                    format_func=lambda n: f"default ({model.target_layer_name})" if n == DEFAULT_LAYER else n,
                    placeholder="Choose a layer",
                )
                value = None if value in (DEFAULT_LAYER, None) else value
            elif name in spec.choices:
                value = st.selectbox(name, spec.choices[name], index=spec.choices[name].index(default), key=key)
            elif isinstance(default, bool):
                value = st.checkbox(name, value=default, key=key)
            elif isinstance(default, (int, np.integer)):
                low, high = (None if b is None else int(b) for b in spec.limits.get(name, (None, None)))
                value = int(st.number_input(name, low, high, int(default), step=1, key=key))
            elif isinstance(default, float):
                low, high = (None if b is None else float(b) for b in spec.limits.get(name, (None, None)))
                value = float(st.number_input(name, low, high, float(default), format="%.4g", key=key))
            else:
                continue  # not editable from the page (e.g. None placeholders): the method's default stands
            if value != default:
                values[name] = value
    return values


def faithfulness_option_widgets(modality: str, key: str) -> dict:
    """One widget per option of ``modality``'s faithfulness figures (its spec's ``faithfulness_options``): a checkbox
    for a yes/no option, else a choice; returns every option's value."""
    values = {}
    for name, option in get_modality(modality).faithfulness_options.items():
        widget_key = f"{key}:{modality}:{name}"
        if isinstance(option.default, bool):
            values[name] = st.checkbox(option.label, value=option.default, key=widget_key, help=option.help)
        else:
            values[name] = st.selectbox(option.label, option.choices, index=option.choices.index(option.default),
                                        key=widget_key, help=option.help)
    return values


def memory_caption(model, chosen: dict, **sizes: int) -> None:
    """The largest peak memory among the chosen methods' runs (they run one at a time), against the run budget;
    a run above it is refused with its sentence before it starts, so the page says so now."""
    try:
        peak = max((estimate_memory(model, m, p, **sizes) for m, p in chosen.items()), default=0)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    st.caption(f"Estimated peak memory: about {gigabytes(peak)} of the {gigabytes(run_budget())} a run may use.")


def _choose_hf_or_embedded(modality: str, what: str, architecture: str, keys: tuple[str, str, str]):
    """Sidebar: an embedded model of ``modality`` or a Hugging Face directory; stops the page until one loads."""
    source_key, embedded_key, dir_key = keys
    with st.sidebar:
        source = st.radio(f"{what.capitalize()} source", ["Embedded", "Hugging Face directory"], key=source_key)
        try:
            if source == "Embedded":
                name = st.selectbox(what.capitalize(), list_models(modality), format_func=describe_model,
                                    key=embedded_key)
            else:
                where = st.text_input("Local directory (or hub id, online)", key=dir_key,
                                      help=f"A save_pretrained directory of a *{architecture} model "
                                           "(config.json, model.safetensors, tokenizer files).")
                if not where.strip():
                    st.info(f"Give the directory of a Hugging Face {what}.")
                    st.stop()
                name = f"hf:{where.strip()}"
            model = user_model(name) if name.startswith("hf:") else cached_model(name)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            st.stop()
        if model.modality != modality:
            st.error(f"{plain(model.name)} is not a {what}; choose one on its own page.")
            st.stop()
        classes = f" · {len(model.labels)} classes" if model.labels else ""
        st.caption(f"Model: **{plain(model.name)}** — loaded{classes} · {model.device_description}")
    return model


def choose_text_model():
    return _choose_hf_or_embedded("text", "text classifier", "ForSequenceClassification",
                                  ("text_model_source", "text_model", "text_hf_dir"))


MAX_WINDOWS = 64  # windows of one text (each method runs once per window)


def long_text_windows(model, encoding):
    """For a text longer than ``model`` reads (its ``Encoding``, tokenised once by the page): its windows
    (``TextClassifier.windows``) when the user asks for the whole text (the default), None for the first part
    alone; the stride is the user's."""
    length = model.max_length - 2
    n_tokens = encoding.n_tokens_total
    st.info(f"The text is {n_tokens:,} tokens long; {plain(model.name)} reads at most {model.max_length} at once.",
            icon=":material/segment:")
    whole = st.radio("Read", ["the whole text, in windows", f"its first {length} tokens only"], horizontal=True,
                     key="text_long", help="Windows: the model reads the text in overlapping windows; the prediction "
                     "is their mean and each method explains every window for the same class.")
    if not whole.startswith("the whole"):
        return None
    stride = st.slider("Window stride (tokens)", 1, length, max(1, length // 2), step=1, key="text_stride",
                       help="How far each window starts after the one before; smaller strides overlap more and "
                       "cost more runs.")
    windows = model.windows(encoding, stride)
    if len(windows) > MAX_WINDOWS:
        st.info(f"The whole text needs {len(windows):,} windows at this stride; at most {MAX_WINDOWS} are read here, "
                f"so the model reads its first {length} tokens only (shorten the text or raise the stride).")
        return None
    st.caption(f"{len(windows)} windows of up to {length} tokens, each starting {stride} tokens after the one "
               "before: every method runs once per window.")
    return windows


def choose_text() -> str:
    """A bundled sample, an uploaded file or typed text (validated later by the model's encoder)."""
    sample = st.selectbox("Sample text", list(TEXT_SAMPLES), key="text_sample")
    upload = kept_upload("…or upload a text file", key="text_upload", type=list(TEXT_UPLOAD_TYPES))
    default = TEXT_SAMPLES[sample]
    if upload is not None:
        try:
            default = clean_text(upload.getvalue())
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
    return st.text_area("Text to classify", value=default, height=120, max_chars=MAX_CHARS,
                        key=f"text:{sample}:{upload.name if upload else ''}")


MAX_REPORT_ITEMS = 60  # session memory: the oldest items go first, and the page says so
MAX_REPORT_MB = 1024  # of inputs, scores and extras (one 50-megapixel image is 150 MB)


def admit_to_report(new_items: list) -> list:
    """Append ``new_items`` to this session's report, dropping the oldest while it holds more than
    MAX_REPORT_ITEMS items or MAX_REPORT_MB; the page says what went. The newest item always stays."""
    items = st.session_state.setdefault("report_items", [])
    items.extend(new_items)
    sizes = [item.nbytes for item in items]
    dropped = []
    while len(items) > 1 and (len(items) > MAX_REPORT_ITEMS or sum(sizes) > MAX_REPORT_MB * 2**20):
        dropped.append(items.pop(0).explanation.method)
        sizes.pop(0)
    if dropped:
        st.warning(f"The report keeps at most {MAX_REPORT_ITEMS} items and {MAX_REPORT_MB:,} MB: the oldest "
                   f"{len(dropped)} ({plain(', '.join(dropped[:5]))}{', …' if len(dropped) > 5 else ''}) "
                   f"{'was' if len(dropped) == 1 else 'were'} dropped.")
    return items


MAX_REPORT_VIEWS = 24  # dataset views in a session's report: the oldest go first, and the page says so


def admit_view_to_report(view) -> list:
    """Append a dataset view (``reports.report.DatasetView``) to this session's report, dropping the oldest views
    beyond MAX_REPORT_VIEWS; the page says what went."""
    views = st.session_state.setdefault("report_views", [])
    views.append(view)
    if len(views) > MAX_REPORT_VIEWS:
        gone = views.pop(0)
        st.warning(f"The report keeps at most {MAX_REPORT_VIEWS} dataset views: the oldest "
                   f"({plain(gone.title)}) was dropped.")
    return views


def add_view_to_report(make_view, key: str, label: str = "Add to report") -> None:
    """An "Add to report" button for a dataset view; ``make_view()`` builds it only when pressed."""
    if not st.button(label, key=f"add_view:{key}", help="Collect this figure on the Report page for export."):
        return
    try:
        view = make_view()
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    views = admit_view_to_report(view)
    st.toast(f"Added {view.title} to the report ({len(views)} dataset view{'' if len(views) == 1 else 's'}).")


def add_to_report(model, x, explanation, key: str, *, input_name=None, agreement=None, prediction=None,
                  view_options=None) -> None:
    """An "Add to report" button; the item (explanation + input + model identity, the headline figures of its
    faithfulness) goes to this session's report. Pass the ``prediction`` the page already has: the model then does
    not run again for the report; and the ``view_options`` ({figure kind: options}) the page drew it with, so the
    exports look like the page."""
    if not st.button("Add to report", key=f"add_report:{key}", help="Collect it on the Report page for export."):
        return
    from reports.report import make_item

    identities = st.session_state.setdefault("report_identities", {})
    try:
        item = make_item(model, x, explanation, agreement=agreement, input_name=input_name,
                         source=getattr(model, "source", ""), identity=identities.get(model.name),
                         prediction=prediction, view_options=view_options)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    identities[model.name] = item.model
    items = admit_to_report([item])
    st.toast(f"Added {explanation.method} to the report ({len(items)} items).")


CLIP_HELP = ("Scores beyond this percentile take the strongest colour, so that a few extreme pixels do not wash "
             "out the rest of the map (sparse gradient maps look blank otherwise; Captum's visualiser clips outliers "
             "the same way). Signed maps: the percentile of |score|. 100: no clipping, scaled by the largest score. "
             "Hovering shows each pixel's true score; the colour bar says where the clip is.")


def clip_slider(container, key: str) -> float:
    """The "Clip at percentile" slider (90–100, default 99) of the pages that show maps."""
    from reports.figures.base import CLIP_PERCENTILE, CLIP_RANGE

    return float(container.slider("Clip at percentile", CLIP_RANGE[0], CLIP_RANGE[1], CLIP_PERCENTILE, 0.5, key=key,
                                  format="%.1f", help=CLIP_HELP))


def choose_table_row():
    """The table row Compare explains: from the Tables page's table and model (when this session has one), or a
    bundled dataset or an uploaded CSV with a model trained here (see ``choose_table_data``). (model, row, id), or
    Nones after saying why there is none."""
    from models.adapters.tabular import MODEL_KINDS

    current = st.session_state.get(TABLES_CURRENT)
    try:
        if current is not None and st.toggle(
                f"Use the Tables page's table and model: {plain(current['choice'].name)}, predicting "
                f"{plain(current['choice'].dataset.target)} ({plain(current['model'].kind)})", value=True,
                key="row_use_tables"):
            choice, model, model_key = current["choice"], current["model"], current["key"]
        else:
            choice = choose_table_data("row")
            if choice is None:
                return None, None, None
            kind = st.selectbox("Model (trained here, cached)", list(MODEL_KINDS), key="row_model_kind")
            model = train_table_model(choice, kind, "row")
            if model is None:
                return None, None, None
            model_key = f"{choice.key}:{kind}"
        features = choice.dataset.features
        index = choose_table_row_index(model, choice.dataset, model_key, key=f"row_index:{choice.key}",
                                       prefix="row")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return None, None, None
    row = features.iloc[index].to_dict()
    st.dataframe(features.iloc[[index]], hide_index=True)
    return model, row, f"{choice.name}:{index}"


class Stage(NamedTuple):
    """One step of a Run under the page's one progress bar: ``run(progress)`` returns the step's result and may
    call ``progress(done, total)`` (in ``unit``) or ``progress(fraction, text)``. ``weight``: its expected seconds
    (passes × measured time per pass, the estimate the page shows), its share of the bar, fixed before it starts."""

    label: str
    weight: float
    run: Callable
    unit: str = "passes"


def run_stages(stages: list[Stage], key: str, help: str = "Stops the run; the steps already finished are kept."):
    """Every stage in turn under ONE progress bar and a Cancel button (pressing it reruns the page, which stops the
    run): the bar's whole is the stages' weights, known before it starts, and it never goes back; its text says
    the step that runs ("integrated-gradients: 120/400 passes (step 2 of 4)"), and, when a run waits for another
    on the same model, about how long. A failing stage shows its sentence and the others go on. Returns the
    stages' results, None for one that failed."""
    cancel_slot = st.empty()
    cancel_slot.button("Cancel", key=key, help=help)
    bar = st.progress(0.0, text=f"{stages[0].label}…" if stages else "Starting…")
    weights = [max(float(stage.weight or 0.0), 1e-3) for stage in stages]
    whole = sum(weights) or 1.0
    shown = [0.0]

    def show(fraction: float, text: str) -> None:
        shown[0] = max(shown[0], min(1.0, fraction))
        bar.progress(shown[0], text=text)

    results = []
    before = 0.0
    timings = st.session_state["lumen_run_timings"] = []  # (stage, seconds) of this session's last run
    started = time.perf_counter()
    try:
        for i, (stage, weight) in enumerate(zip(stages, weights)):
            step = f" (step {i + 1} of {len(stages)})" if len(stages) > 1 else ""

            def progress(done, total, stage=stage, weight=weight, start=before, step=step):
                if isinstance(total, str):  # a fraction of the stage and its own text
                    show((start + weight * min(1.0, float(done))) / whole, f"{total}{step}")
                else:
                    show((start + weight * min(1.0, done / max(total, 1))) / whole,
                         f"{stage.label}: {done:,}/{total:,} {stage.unit}{step}")

            show(before / whole, f"{stage.label}…{step}")
            begun = time.perf_counter()
            try:
                with waiting_reports(lambda sentence, stage=stage, start=before: show(
                        start / whole, f"{stage.label}: {sentence}")):
                    results.append(stage.run(progress))
            except (ScriptControlException, FragmentHandledException):
                raise
            except Exception as exc:  # noqa: BLE001
                show_error(exc)
                results.append(None)
            timings.append((stage.label, time.perf_counter() - begun))
            before += weight
            show(before / whole, f"{stage.label}: done{step}")
    finally:
        bar.empty()
        cancel_slot.empty()
    if len(stages) > 1:  # where the time went, so that the next estimate reads right
        st.caption(f"This run took {duration(time.perf_counter() - started)}: "
                   + " · ".join(f"{plain(label)} {duration(seconds)}" for label, seconds in timings) + ".")
    return results


def run_with_progress(label: str, fn, unit: str = "passes"):
    """``fn(progress)`` as the one stage of ``run_stages``; ``progress(done, total)`` or ``progress(fraction, text)``.
    The result, or None after the error is shown."""
    return run_stages([Stage(label, 1.0, fn, unit)], key=f"cancel:{label}", help="Stops the computation.")[0]


def choose_language_model():
    return _choose_hf_or_embedded("generation", "language model", "ForCausalLM", ("gen_source", "gen_model", "gen_hf"))


def choose_prompt():
    """(model, prompt, continuation token ids): a prompt and its greedy continuation or a given one."""
    model = choose_language_model()
    prompt = st.text_area("Prompt", "The capital of France is", max_chars=MAX_CHARS, key="cmp_prompt")
    given = st.text_input("Target continuation (empty: the model's greedy continuation)", "",
                          max_chars=MAX_TARGET_CHARS, key="cmp_target")
    max_new = int(st.number_input("Max new tokens", *MAX_NEW_TOKENS, 4, key="cmp_max_new"))
    try:
        encoded = model.encode(prompt, given or None)
        continuation = list(encoded.target_ids) if given else cached_continuation(model, prompt, max_new)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    if not continuation:
        st.warning("The model generated nothing for this prompt (its next token is end-of-text). "
                   "Change the prompt or give a target continuation.")
        st.stop()
    st.caption(f"Continuation explained: {plain(repr(model.decode(continuation)))} ({len(continuation)} tokens)")
    return model, prompt, continuation


class ChosenInput(NamedTuple):
    """What Compare explains: the model, its input, a stable id of the input, and the target when the input
    fixes it (a prompt's continuation, as token ids); None: the page asks which class."""

    model: object
    x: object
    input_id: object
    target: object = None


def _image_input():
    model = choose_image_model()
    if model is None:
        return None
    x, input_id = choose_image()
    return None if x is None else ChosenInput(model, x, input_id)


def _text_input():
    model = choose_text_model()
    x = choose_text()
    return ChosenInput(model, x, x)


def _prompt_input():
    model, x, continuation = choose_prompt()
    return ChosenInput(model, x, (x, tuple(continuation)), continuation)  # every method explains this continuation


def _row_input():
    model, x, input_id = choose_table_row()
    return None if model is None else ChosenInput(model, x, input_id)


# modality id -> the widgets that choose a model and an input of that kind (Compare)
INPUT_WIDGETS = {"image": _image_input, "text": _text_input, "generation": _prompt_input, "tabular": _row_input}


def choose_input(modality: str) -> ChosenInput | None:
    """The model and input widgets of ``modality``; None after they said why there is nothing to explain."""
    return INPUT_WIDGETS[modality]()


def cached_continuation(model, prompt: str, max_new: int) -> list[int]:
    """The model's greedy continuation of ``prompt``, kept per model, prompt and length."""
    ids = remember(_store("continuations", MAX_CONTINUATIONS), (model.name, prompt, max_new),
                   lambda: tuple(model.generate(prompt, max_new)), repr(prompt[:40]), CONTINUATIONS_NOTE,
                   "Generating…")
    return list(ids)


def run_each(chosen: dict, run_one, key: str, seconds: dict | None = None) -> None:
    """``run_one(method_id, params, progress)`` for every chosen method, each a stage of ``run_stages`` weighted by
    its estimated ``seconds`` ({method: seconds}; equal weights if None); methods already finished are kept."""
    run_stages([Stage(method_id, (seconds or {}).get(method_id, 1.0),
                      lambda progress, method_id=method_id, params=params: run_one(method_id, params, progress))
                for method_id, params in chosen.items()], key=key,
               help="Stops the run; methods already finished are kept.")


# --- tables: the data, its target, the model and the row, shared by the Tables page and Compare -----------------
# (issue 17, Tables) A CSV's target is guessed and shown, never trained on before the person presses Train; the
# model the Tables page trained is offered to Compare; rows are picked by error and confidence.

TABLES_CURRENT = "tables_current"  # session state: the Tables page's table and model, for Compare
MAX_PICK_ROWS = 500  # rows offered in the "pick a row" list (after filtering and sorting)


class TableChoice(NamedTuple):
    """A table and its target: ``key`` identifies the data and the target (results are kept per key), ``name`` is
    what report items call the data (the file's name, or the bundled dataset's), ``uploaded``: a CSV (a model is
    trained on it only when the person presses Train)."""

    dataset: object
    key: str
    name: str
    uploaded: bool


@st.cache_data(max_entries=4, show_spinner="Reading the CSV…")
def read_table(data: bytes):
    from models.inputs.tables import read_csv

    return read_csv(data)


@st.cache_resource(max_entries=8, show_spinner="Training the model…")
def trained_table_model(key: str, _dataset, kind: str):
    from models.adapters.tabular import train_model

    return train_model(_dataset, kind)


def table_preview(frame, expanded: bool) -> None:
    """The first rows and one line per column: its type, missing and distinct values."""
    from models.inputs.tables import preview

    summary = preview(frame)
    missing = int(summary["missing"].sum())
    with st.expander(f"Data preview: {len(frame):,} rows × {frame.shape[1]} columns · {missing:,} missing cells",
                     expanded=expanded):
        st.dataframe(frame.head(10), width="stretch", key=None)
        st.dataframe(summary, hide_index=True, width="stretch",
                     column_config={"missing %": st.column_config.NumberColumn(format="%.1f %%")})
        st.caption("Types: numeric (numbers), categorical (a few repeated values), date, text (free text or "
                   "identifiers). Date and text columns with many different values are left out of the model. "
                   "Missing numbers are filled with the column's median, missing "
                   "categories with the most frequent one.")


def choose_table_data(prefix: str) -> TableChoice | None:
    """A bundled dataset or an uploaded CSV, previewed, with its target column: for a CSV a guess is shown and the
    person may choose another; a target that cannot be predicted is refused with a sentence (None)."""
    from models.inputs.tables import DATASETS, guess_target, load_dataset, prepare_target, target_problems

    source = st.radio("Data", ["Bundled dataset", "Upload CSV"], horizontal=True, key=f"{prefix}_source")
    if source == "Bundled dataset":
        name = st.selectbox("Dataset", list(DATASETS), format_func=lambda k: DATASETS[k][1], key=f"{prefix}_dataset")
        dataset = load_dataset(name)
        table_preview(dataset.frame, expanded=False)
        return TableChoice(dataset, name, name, False)
    upload = kept_upload("CSV file", type=["csv", "tsv", "txt"], key=f"{prefix}_csv",
                         help="Delimiter, encoding and column types are inferred.")
    if upload is None:
        st.info("Upload a CSV file, or switch to a bundled dataset.")
        return None
    raw = upload.getvalue()
    digest = hashlib.sha1(raw).hexdigest()[:12]
    frame, notes = read_table(raw)
    for note in notes:
        st.info(plain_sentence(note))
    guess, why = guess_target(frame)
    target_key = f"{prefix}_target"
    if st.session_state.get(f"{prefix}_target_for") != digest or st.session_state.get(target_key) not in frame.columns:
        st.session_state[target_key] = guess  # a new file: its own guess, not the last file's column
        st.session_state[f"{prefix}_target_for"] = digest
    table_preview(frame, expanded=st.session_state.get(f"{prefix}_trained", (None,))[0] != digest)
    target = st.selectbox("Target column (what the model predicts)", list(frame.columns), key=target_key)
    st.caption(f"Guessed target: **{plain(guess)}**, because {plain_sentence(why)}. Choose another column if the "
               "model should predict something else.")
    warnings, refusals = target_problems(frame, target)
    for sentence in warnings:
        st.warning(plain_sentence(sentence))
    if refusals:
        for sentence in refusals:
            st.error(plain_sentence(sentence))
        return None
    dataset = prepare_target(frame, target, name=Path(upload.name).stem, notes=[])
    for note in dataset.notes:
        st.info(plain_sentence(note))
    return TableChoice(dataset, f"csv:{digest}:{target}", upload.name, True)


def train_table_model(choice: TableChoice, kind: str, prefix: str):
    """The model of ``kind`` trained on ``choice``: at once for a bundled dataset; for a CSV only once the person
    pressed Train for this table, target and kind (changing either asks again, nothing is retrained silently).
    None while waiting for Train."""
    from models.adapters.tabular import MODEL_KINDS

    wanted = (choice.key.split(":")[1], choice.dataset.target, kind) if choice.uploaded else None
    state = f"{prefix}_trained"
    if choice.uploaded and st.session_state.get(state) != wanted:
        task = choice.dataset.task
        trained = st.session_state.get(state)
        if trained and trained[0] == wanted[0]:
            st.info(f"You changed the {'target' if trained[1] != wanted[1] else 'model kind'}: nothing is retrained "
                    "until you press **Train**.")
        st.markdown(f"Train a **{plain(MODEL_KINDS[kind])}** to predict **{plain(choice.dataset.target)}** "
                    f"({task}, {choice.dataset.frame[choice.dataset.target].nunique()} "
                    f"{'classes' if task == 'classification' else 'distinct values'}) from "
                    f"{choice.dataset.features.shape[1]} columns of {len(choice.dataset.frame):,} rows.")
        if not st.button("Train", type="primary", key=f"{prefix}_train"):
            return None
        st.session_state[state] = wanted
    return trained_table_model(f"{choice.key}:{kind}", choice.dataset, kind)


def remember_table_model(choice: TableChoice, model, model_key: str) -> None:
    """What Compare offers as "the Tables page's table": the last model the Tables page explained, on its data."""
    st.session_state[TABLES_CURRENT] = {"choice": choice, "model": model, "key": model_key}


def _predictions(model, dataset, model_key: str):
    """Actual vs predicted for every row of ``dataset`` (kept per model in the session: one table at a time)."""
    kept = st.session_state.get("tables_predictions")
    if kept is None or kept[0] != model_key:
        table = model.actual_vs_predicted(dataset.features, dataset.frame[dataset.target])
        kept = (model_key, table)
        st.session_state["tables_predictions"] = kept
    return kept[1]


def _verdict(table, index: int, markdown: bool = True) -> str:
    """"actual Adelie · predicted Chinstrap (48%) · wrong"; ``markdown``: escaped for st.markdown (a widget's
    options are shown as plain text)."""
    row = table.loc[index]
    shown = plain if markdown else str
    if "probability" in table.columns:
        mark = "right" if row["correct"] else "wrong"
        return (f"actual {shown(row['actual'])} · predicted {shown(row['predicted'])} "
                f"({row['probability']:.0%}) · {mark}")
    return f"actual {row['actual']:.4g} · predicted {row['predicted']:.4g} · error {row['error']:+.4g}"


def choose_table_row_index(model, dataset, model_key: str, key: str, prefix: str) -> int:
    """The row to explain: a number, or picked from the rows' actual vs predicted table, filtered to the wrong
    predictions (or the held-out rows) and sorted by confidence or error."""
    n = len(dataset.frame)
    try:
        table = _predictions(model, dataset, model_key)
    except Exception as exc:  # noqa: BLE001 - an uploaded model whose classes are not the data's: rows by number
        st.caption(f"No actual vs predicted table: {plain_sentence(str(exc))}")
        return int(st.number_input(f"Row (0–{n - 1})", 0, n - 1, 0, key=key))
    classify = "probability" in table.columns
    c1, c2, c3 = st.columns(3)
    shown = table
    if classify and c1.checkbox("Wrong predictions only", key=f"{prefix}_wrong"):
        shown = shown[~shown["correct"]]
    if "held out" in shown.columns and c2.checkbox("Held-out rows only", key=f"{prefix}_held",
                                                    help="Rows the model was not trained on: its score's rows."):
        shown = shown[shown["held out"]]
    orders = ({"row order": None, "lowest confidence first": ("probability", True),
               "highest confidence first": ("probability", False)} if classify else
              {"row order": None, "largest error first": ("|error|", False), "smallest error first": ("|error|", True)})
    order = orders[c3.selectbox("Sort rows", list(orders), key=f"{prefix}_sort")]
    if order:
        column, ascending = order
        values = shown["error"].abs() if column == "|error|" else shown[column]
        shown = shown.loc[values.sort_values(ascending=ascending, kind="stable").index]
    wrong = int((~table["correct"]).sum()) if classify else None
    summary = (f"{len(table) - wrong:,} of {len(table):,} rows predicted right ({wrong:,} wrong)" if classify else
               f"mean |error| {table['error'].abs().mean():.4g} over {len(table):,} rows")
    st.caption(f"Actual vs predicted, every row: {summary}; {len(shown):,} shown. "
               + ("Rows the model was trained on are marked (held out: no); its score is on the held-out rows."
                  if "held out" in table.columns else ""))
    if shown.empty:
        st.info("No row matches these filters" + (": the model predicts every row right." if classify and not wrong
                                                   else "."))
    else:
        st.dataframe(shown.head(MAX_PICK_ROWS), width="stretch", height=240,
                     column_config={"probability": st.column_config.NumberColumn(format="%.3f"),
                                    "p(actual)": st.column_config.NumberColumn(format="%.3f")})
        options = [int(i) for i in shown.index[:MAX_PICK_ROWS]]

        def pick():
            chosen = st.session_state.get(f"{prefix}_pick")
            if chosen is not None:
                st.session_state[key] = int(chosen)

        st.selectbox(f"Pick a row from the list ({len(options):,} first shown)", options, index=None,
                     key=f"{prefix}_pick", on_change=pick, placeholder="a row from the table above",
                     format_func=lambda i: f"row {i}: {_verdict(table, i, markdown=False)}")
    if not 0 <= int(st.session_state.get(key) or 0) < n:
        st.session_state[key] = 0
    st.session_state.setdefault(key, 0)  # the value lives in the session (the pick list sets it): no default here
    index = int(st.number_input(f"Row (0–{n - 1})", 0, n - 1, key=key))
    st.markdown(f"Row {index}: {_verdict(table, index)}")
    return index


def actual_vs_predicted_line(model, dataset, model_key: str, index: int, values: dict, edited: bool) -> str:
    """One line for the local view: the row's recorded target beside the model's prediction for the values
    explained (edited ones included) and its probability."""
    try:
        table = _predictions(model, dataset, model_key)
        actual = table.loc[index, "actual"]
        prediction = model.predict(values)
    except Exception:  # noqa: BLE001 - the model's classes are not the data's: nothing to set beside it
        return ""
    recorded = f"recorded in row {index}" + ("; the row was edited" if edited else "")
    if hasattr(prediction, "probs"):
        (top, name, p), = prediction.top(1)
        mark = "right" if str(actual) == str(name) else "wrong"
        return (f"**Actual** {plain(actual)} ({recorded}) · **predicted** {plain(name)} with probability "
                f"{p:.1%}: {mark}")
    predicted = float(prediction.value)
    return f"**Actual** {actual:.4g} ({recorded}) · **predicted** {predicted:.4g} (error {predicted - actual:+.4g})"


if __name__ == "__main__":  # this file opened as a page by Streamlit's legacy multipage mode: see app_runs_first
    app_runs_first()
