"""Report page: the explanations collected with "Add to report", in order, exported as HTML, PDF or a bundle."""

import streamlit as st

from pages.widgets import app_runs_first, admit_to_report, plain, plain_sentence, show_error
from reports.bundle import check_exportable, read_bundle, write_bundle
from reports.html import preview_document, to_html
from reports.pdf import to_pdf
from reports.report import new_report

app_runs_first()

st.title("Report")
st.caption("Collect explanations with **Add to report** on any page; order them here and export: one "
           "self-contained HTML file (opens offline), a PDF for print, or a bundle (ZIP of JSON + NPZ + PNG) that "
           "this page imports again.")

items = st.session_state.setdefault("report_items", [])
views = st.session_state.setdefault("report_views", [])

with st.expander("Import a bundle", expanded=not items and not views):
    bundle = st.file_uploader("Lumen bundle (.zip)", type=["zip"], key="report_import")
    if bundle is not None and st.session_state.get("report_imported") != bundle.file_id:
        try:
            imported = read_bundle(bundle.getvalue())
            items = admit_to_report(imported.items)
            views.extend(imported.views)
            st.session_state["report_imported"] = bundle.file_id
            st.session_state["report_title"] = imported.title
            st.success(f"Imported {len(imported.items)} items from {plain(bundle.name)}.")
        except Exception as exc:  # noqa: BLE001
            show_error(exc)

if not items and not views:
    st.info("The report is empty: add explanations from the other pages, or import a bundle.")
    st.stop()

st.session_state.setdefault("report_title", "Lumen report")
title = st.text_input("Title", key="report_title")
if items:
    st.markdown(f"**{len(items)} items**")
for i, item in enumerate(items):
    e = item.explanation
    c1, c2, c3, c4 = st.columns([6, 1, 1, 1])
    name = f" · {item.input_name}" if item.input_name else ""
    c1.text(f"{i + 1}. {e.method} for {e.target_label} — {item.model.name}{name}")
    if c2.button(":material/arrow_upward:", help="Move up", key=f"report_up:{i}", disabled=i == 0):
        items[i - 1], items[i] = items[i], items[i - 1]
        st.rerun()
    if c3.button(":material/arrow_downward:", help="Move down", key=f"report_down:{i}", disabled=i == len(items) - 1):
        items[i + 1], items[i] = items[i], items[i + 1]
        st.rerun()
    if c4.button(":material/close:", help="Remove from the report", key=f"report_remove:{i}"):
        items.pop(i)
        st.rerun()

if views:
    st.markdown(f"**{len(views)} dataset view{'' if len(views) == 1 else 's'}** (from the Datasets page; after the "
                "items)")
for k, view in enumerate(views):
    c1, c2 = st.columns([9, 1])
    c1.text(f"{k + 1}. {view.title}" + (f" — {view.source}" if view.source else ""))
    if c2.button(":material/close:", help="Remove from the report", key=f"report_remove_view:{k}"):
        views.pop(k)
        st.rerun()

report = new_report(title, items, views=views)
try:
    html = to_html(report)
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
c1, c2, c3 = st.columns(3)
# on_click="ignore": a download reruns nothing, so the other buttons' files stay valid (a rerun would replace
# them, and a click that raced it would find its file gone)
c1.download_button("Download HTML", html.encode("utf-8"), "lumen-report.html", "text/html", key="report_html",
                   on_click="ignore")
c2.download_button("Download PDF", lambda: to_pdf(report), "lumen-report.pdf", "application/pdf", key="report_pdf",
                   on_click="ignore")
try:  # a bundle Lumen could not import again is not offered (write_bundle also measures its bytes)
    check_exportable(report)
    too_big = None
except Exception as exc:  # noqa: BLE001
    too_big = exc
c3.download_button("Download bundle", lambda: write_bundle(report), "lumen-report.zip", "application/zip",
                   key="report_bundle", on_click="ignore", disabled=too_big is not None)
if too_big is not None:
    c3.caption(plain_sentence(str(too_big)))
if st.session_state.get("report_clear_asked"):
    st.warning(f"Clear the report's {len(items)} item{'' if len(items) == 1 else 's'}"
               + (f" and {len(views)} dataset view{'' if len(views) == 1 else 's'}" if views else "")
               + "? This cannot be undone (download a bundle first to keep them).")
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, clear the report", key="report_clear_yes", type="primary"):
        items.clear()
        views.clear()
        st.session_state["report_clear_asked"] = False
        st.rerun()
    if no.button("Keep it", key="report_clear_no"):
        st.session_state["report_clear_asked"] = False
        st.rerun()
elif st.button("Clear the report", key="report_clear", help="Asks to confirm first."):
    st.session_state["report_clear_asked"] = True
    st.rerun()

st.subheader("Preview")
# the report in a sandboxed srcdoc frame (an opaque origin: even a flaw in the escaping could not reach the app);
# a data: URL of a large report is blocked by Chromium (about:blank#blocked)
st.iframe(preview_document(html), height=900)
