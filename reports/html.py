"""A report as ONE self-contained HTML file: Plotly's JavaScript inlined once, images as data URIs.

Everything that comes from a user (texts, tokens, labels, file names, titles, parameter
values, feature names) is escaped: with ``html.escape`` in markup, and as JSON with
``<``, ``>``, ``&`` written as ``\\u003c``-style escapes inside the ``<script>`` blocks.
Labels that Plotly draws are HTML-escaped too, since Plotly reads a few tags in them.
"""

from __future__ import annotations

import html
import json

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from models.units import duration
from reports.describe import heading, is_craft, target_text
from reports.figures import renderer
from reports.figures.base import data_uri, lumen_template, thumbnail_png
from reports.report import Agreement, DatasetView, Report, ReportItem
from reports.views import views

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}section.item{border-top:2px solid #ddd;padding-top:1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f5f5f5}.cols{display:flex;flex-wrap:wrap;gap:1.5rem}.cols>div{flex:1 1 320px;min-width:0}
img.input{width:100%;max-width:480px;height:auto;border:1px solid #ccc}pre.input{white-space:pre-wrap;background:#f8f8f8;padding:.5rem}
.gallery img{max-width:160px;margin:2px;border:1px solid #ccc}.muted{color:#777;font-size:.85rem}code{word-break:break-all}
"""


def e(value) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def script_json(text: str) -> str:
    """JSON text made safe inside <script>: no ``</script>``, ``<!--`` or entity can appear."""
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


MIN_MARGIN = dict(l=60, b=50)  # px: room for the axis titles of a figure with visible axes


def export_figure(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` as the file shows it: Lumen's template (never the process's default, which Streamlit sets
    to its theme), axes that grow their margins, and margins with room for the axis titles."""
    fig = go.Figure(fig)
    fig.update_layout(template=lumen_template())
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    axes_shown = any(getattr(fig.layout, a).visible is not False for a in ("xaxis", "yaxis"))
    if axes_shown and not any(t.type == "image" for t in fig.data):
        margin = fig.layout.margin
        fig.update_layout(margin={k: max(v, getattr(margin, k) or 0) for k, v in MIN_MARGIN.items()})
    return fig


class _Figures:
    """Numbered Plotly figures of one document."""

    def __init__(self):
        self.count = 0

    def __call__(self, fig: go.Figure, height: int | None = None) -> str:
        self.count += 1
        div = f"lumen-fig-{self.count}"
        spec = json.loads(export_figure(fig).to_json())
        if height:
            spec.setdefault("layout", {})["height"] = height
        payload = script_json(json.dumps({"data": spec.get("data", []), "layout": spec.get("layout", {})}))
        return (f'<div id="{div}" class="figure"></div>\n<script>(function(){{var f={payload};'
                f'Plotly.newPlot("{div}",f.data,f.layout,{{responsive:true,displaylogo:false}});}})();</script>')


def to_html(report: Report) -> str:
    """The whole report as one HTML document (a str; write it with UTF-8)."""
    figure = _Figures()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title><style>{_STYLE}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{e(report.title)}</h1>",
        f'<p class="muted">{len(report.items)} explanation(s)'
        + (f", {len(report.views)} dataset view(s)" if report.views else "") + ". Made with Lumen.</p>",
        _contents(report),
    ]
    for i, item in enumerate(report.items):
        parts.append(_item(i, item, figure))
    agreements = report.agreements()
    if agreements:
        parts.append('<section id="agreement"><h2>Agreement between explainers</h2>'
                     '<p class="muted">Explainers often disagree; disagreement is information about the '
                     'explanations, not an error.</p>')
        for agreement, owners in agreements:
            parts.append(_agreement(agreement, owners, figure))
        parts.append("</section>")
    if report.views:
        parts.append('<section id="datasets"><h2>Datasets</h2>')
        parts.extend(_dataset_view(k, view, figure) for k, view in enumerate(report.views))
        parts.append("</section>")
    parts.append(_environment(report.environment))
    parts.append("</body></html>")
    return "\n".join(parts)


def _contents(report: Report) -> str:
    rows = "".join(f'<li><a href="#item-{i + 1}">{e(_heading(item))}</a></li>' for i, item in enumerate(report.items))
    views = "".join(f'<li><a href="#dataset-view-{k + 1}">{e(view.title)}</a></li>' for k, view in enumerate(report.views))
    return f"<ol>{rows}</ol>" + (f"<p>Dataset views:</p><ol>{views}</ol>" if views else "")


def _dataset_view(k: int, view: DatasetView, figure: _Figures) -> str:
    """A dataset view: its title, the job it summarises, its interactive figure."""
    r = renderer(view.kind)
    source = f'<p class="muted">{e(view.source)}</p>' if view.source else ""
    return (f'<section class="item" id="dataset-view-{k + 1}" data-kind="{e(view.kind)}"><h3>{e(view.title)}</h3>'
            f"{source}{figure(r.plotly(view.prepared()))}</section>")


def _heading(item: ReportItem) -> str:
    return heading(item.explanation)


def _item(i: int, item: ReportItem, figure: _Figures) -> str:
    ex = item.explanation
    tables = [
        _table("Model", [("name", item.model.name), ("source", item.model.source),
                         (f"SHA-256 ({item.model.sha256_of or 'not available'})", item.model.sha256 or "—")]),
        _prediction(item.prediction),
        _table("Explanation", [("method", ex.method), ("modality", ex.modality), ("model", ex.model),
                               ("target", target_text(ex)),
                               ("runtime", duration(ex.runtime_s)), ("forward passes", ex.n_forward),
                               ("backward passes", ex.n_backward), ("device", ex.device)]
               + ([("base value", ex.base_value)] if ex.base_value is not None else [])),
        _table("Parameters", [(k, _json_value(v)) for k, v in ex.params.items()]),
        _table("Metrics", [(k, f"{v:.6g}") for k, v in item.metrics.items()]),
    ]
    return (f'<section class="item" id="item-{i + 1}" data-method="{e(ex.method)}">'
            f"<h2>{i + 1}. {e(_heading(item))}</h2>"
            f'<div class="cols"><div>{_input(item)}</div><div>{"".join(tables)}</div></div>'
            f"{_views(item, figure)}</section>")


def _json_value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)


def _table(title: str, rows, header=None) -> str:
    if not rows:
        return f"<h3>{e(title)}</h3><p class='muted'>none</p>"
    head = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h3>{e(title)}</h3><table>{head}{body}</table>"


def _prediction(prediction) -> str:
    rows = [(rank + 1, label, "" if index is None else index, f"{p:.2%}") for rank, (index, label, p) in enumerate(prediction)]
    return _table("Prediction", rows, header=("rank", "class", "index", "probability"))


def _input(item: ReportItem) -> str:
    kind = item.input_kind
    what = "" if kind == "row" else "file: "  # a table row's name says its dataset and edits
    name = f'<p class="muted">{what}{e(item.input_name)}</p>' if item.input_name else ""
    if kind == "image":
        h, w = item.input.shape[:2]
        body = f'<img class="input" alt="input image" src="{data_uri(thumbnail_png(item.input))}">' \
               f'<p class="muted">{w}×{h} px</p>'
    elif kind == "images":
        imgs = "".join(f'<img alt="input image {k + 1}" src="{data_uri(thumbnail_png(a, 256))}">'
                       for k, a in enumerate(item.input))
        body = f'<div class="gallery">{imgs}</div><p class="muted">{len(item.input)} images</p>'
    elif kind == "text":
        body = f'<pre class="input">{e(item.input)}</pre>'
    else:
        body = _table("Row", [(k, _json_value(v)) for k, v in item.input.items()], header=("feature", "value"))
    return f"<h3>Input</h3>{name}{body}"


def _views(item: ReportItem, figure: _Figures) -> str:
    parts = []
    for view in views(item):
        r = renderer(view.kind)
        if r.html is not None:
            body = r.html(view.data)
        elif view.still:
            body = f'<img class="input" alt="{e(view.kind)}" src="{data_uri(r.png(view.data))}">'
        else:
            body = figure(r.plotly(view.data))
        parts.append(f"<h3>{e(view.title)}</h3>{body}")
    lens = item.explanation.extras.get("metrics") if is_craft(item.explanation) else None
    if isinstance(lens, dict):
        parts.append(_table("Concept metrics (Lens)", [(k, _json_value(v)) for k, v in lens.items()]))
    return "".join(parts)


def _agreement(agreement: Agreement, owners: list[int], figure: _Figures) -> str:
    fig = renderer("agreement_matrix").figure(agreement.methods, agreement.matrix, agreement.metric)
    items = ", ".join(str(i + 1) for i in owners)
    return f"<h3>{e(agreement.metric)} (items {e(items)})</h3>" + figure(fig)


def _environment(env: dict) -> str:
    rows = [(k, _json_value(v)) for k, v in env.items() if k != "packages"]
    packages = [(k, v or "not installed") for k, v in (env.get("packages") or {}).items()]
    return ('<section id="environment"><h2>Environment</h2>' + _table("Run", rows)
            + _table("Packages", packages, header=("package", "version")) + "</section>")


def preview_document(report_html: str) -> str:
    """A small page that shows ``report_html`` in a sandboxed frame, for an app to embed (a frame's ``srcdoc``).

    The report travels in the inner frame's ``srcdoc`` attribute (escaped), not as a ``data:`` URL: Chromium
    refuses to open a ``data:`` URL of a few MB in a frame (``about:blank#blocked``), and a 60-item report is 14 MB.
    The inner frame's sandbox allows scripts (Plotly) but not the same origin, so the report runs in an opaque
    origin: even a flaw in the escaping could not reach the app around it."""
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Report preview</title>'
            "<style>html,body{margin:0;height:100%;overflow:hidden}"
            "iframe{border:0;width:100%;height:100%;display:block}</style></head><body>"
            f'<iframe title="Report preview" sandbox="allow-scripts allow-popups" '
            f'srcdoc="{html.escape(report_html, quote=True)}"></iframe></body></html>')
