"""A report as ONE self-contained HTML file: Plotly's JavaScript inlined once, images as data URIs.

Everything that comes from a user (texts, tokens, labels, file names, titles, parameter
values, feature names) is escaped: with ``html.escape`` in markup, and as JSON with
``<``, ``>``, ``&`` written as ``\\u003c``-style escapes inside the ``<script>`` blocks.
Labels that Plotly draws are HTML-escaped too, since Plotly reads a few tags in them.
"""

from __future__ import annotations

import base64
import html
import json

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from explainers.core.explanation import Explanation
from reports import raster
from reports.concept_figures import importance_bar
from reports.figures import heatmap_overlay
from reports.report import Agreement, Report, ReportItem

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}section.item{border-top:2px solid #ddd;padding-top:1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f5f5f5}.cols{display:flex;flex-wrap:wrap;gap:1.5rem}.cols>div{flex:1 1 320px;min-width:0}
img.input{width:100%;max-width:480px;height:auto;border:1px solid #ccc}pre.input{white-space:pre-wrap;background:#f8f8f8;padding:.5rem}
.tokens{line-height:2;font-family:ui-monospace,monospace}.tokens span{padding:.1rem .15rem;border-radius:3px;margin:0 1px}
.gallery img{max-width:160px;margin:2px;border:1px solid #ccc}.muted{color:#777;font-size:.85rem}code{word-break:break-all}
"""


def e(value) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def script_json(text: str) -> str:
    """JSON text made safe inside <script>: no ``</script>``, ``<!--`` or entity can appear."""
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class _Figures:
    """Numbered Plotly figures of one document."""

    def __init__(self):
        self.count = 0

    def __call__(self, fig: go.Figure, height: int | None = None) -> str:
        self.count += 1
        div = f"lumen-fig-{self.count}"
        spec = json.loads(fig.to_json())
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
        f'<p class="muted">{len(report.items)} explanation(s). Made with Lumen.</p>',
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
    parts.append(_environment(report.environment))
    parts.append("</body></html>")
    return "\n".join(parts)


def _contents(report: Report) -> str:
    rows = "".join(f'<li><a href="#item-{i + 1}">{e(_heading(item))}</a></li>' for i, item in enumerate(report.items))
    return f"<ol>{rows}</ol>"


def _heading(item: ReportItem) -> str:
    return raster.heading(item.explanation)


def _item(i: int, item: ReportItem, figure: _Figures) -> str:
    ex = item.explanation
    tables = [
        _table("Model", [("name", item.model.name), ("source", item.model.source),
                         (f"SHA-256 ({item.model.sha256_of or 'not available'})", item.model.sha256 or "—")]),
        _prediction(item.prediction),
        _table("Explanation", [("method", ex.method), ("modality", ex.modality), ("model", ex.model),
                               ("target", raster.target_text(ex)),
                               ("runtime", f"{ex.runtime_s:.3f} s"), ("forward passes", ex.n_forward),
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


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _input(item: ReportItem) -> str:
    name = f'<p class="muted">file: {e(item.input_name)}</p>' if item.input_name else ""
    kind = item.input_kind
    if kind == "image":
        h, w = item.input.shape[:2]
        body = f'<img class="input" alt="input image" src="{_data_uri(raster.thumbnail_png(item.input))}">' \
               f'<p class="muted">{w}×{h} px</p>'
    elif kind == "images":
        imgs = "".join(f'<img alt="input image {k + 1}" src="{_data_uri(raster.thumbnail_png(a, 256))}">'
                       for k, a in enumerate(item.input))
        body = f'<div class="gallery">{imgs}</div><p class="muted">{len(item.input)} images</p>'
    elif kind == "text":
        body = f'<pre class="input">{e(item.input)}</pre>'
    else:
        body = _table("Row", [(k, _json_value(v)) for k, v in item.input.items()], header=("feature", "value"))
    return f"<h3>Input</h3>{name}{body}"


def _views(item: ReportItem, figure: _Figures) -> str:
    ex = item.explanation
    signed = ex.signed
    if raster.is_craft(ex):
        return _craft(ex, figure)
    if ex.scores.ndim == 2 and ex.modality == "image" and item.input_kind == "image" \
            and ex.scores.shape == item.input.shape[:2]:
        fig = heatmap_overlay(raster.rgb(item.input), raster.display_scores(ex.scores, signed), signed=signed)
        return "<h3>Attribution</h3>" + figure(fig)
    if ex.scores.ndim == 2:
        return "<h3>Attribution matrix</h3>" + figure(_matrix(ex, signed))
    parts = []
    if ex.tokens and len(ex.tokens) == ex.scores.size:
        parts.append("<h3>Tokens</h3>" + token_highlight(ex.tokens, ex.scores, signed))
    parts.append("<h3>Ranked</h3>" + figure(_ranked_bar(ex)))
    return "".join(parts)


def token_highlight(tokens: list[str], scores: np.ndarray, signed: bool) -> str:
    """Escaped tokens on backgrounds of their score: red positive, blue negative (signed), or jet-free reds."""
    shown = raster.display_scores(scores, signed)
    spans = []
    for token, value, raw in zip(tokens, shown, np.asarray(scores, dtype=np.float64)):
        if signed:
            colour = (214, 39, 40) if value >= 0 else (31, 119, 180)
            alpha = min(1.0, abs(float(value)))
        else:
            colour, alpha = (214, 39, 40), float(value)
        spans.append(f'<span title="{e(f"{raw:.4g}")}" style="background:rgba({colour[0]},{colour[1]},{colour[2]},'
                     f'{alpha * 0.8:.3f})">{e(token)}</span>')
    return f'<div class="tokens">{" ".join(spans)}</div>'


def _ranked_bar(ex: Explanation) -> go.Figure:
    top = raster.ranked(ex.scores, raster.feature_names(ex))[::-1]
    values = [v for _, v in top]
    fig = go.Figure(go.Bar(x=values, y=[html.escape(n) for n, _ in top], orientation="h",
                           marker_color=["#d62728" if v >= 0 else "#1f77b4" for v in values],
                           hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=60 + 24 * len(top), xaxis_title="attribution",
                      yaxis=dict(type="category"))
    return fig


def _matrix(ex: Explanation, signed: bool) -> go.Figure:
    rows, cols = ex.scores.shape
    xs = ex.tokens if ex.tokens and len(ex.tokens) == cols else [str(j) for j in range(cols)]
    ys = ex.target_tokens if ex.target_tokens and len(ex.target_tokens) == rows else [str(i) for i in range(rows)]
    fig = go.Figure(go.Heatmap(
        z=ex.scores.astype(np.float64), colorscale="RdBu_r" if signed else "Viridis",
        zmid=0 if signed else None, customdata=[[html.escape(f"{ys[i]} ← {xs[j]}") for j in range(cols)] for i in range(rows)],
        hovertemplate="%{customdata}<br>%{z:.4g}<extra></extra>"))
    fig.update_xaxes(tickvals=list(range(cols)), ticktext=[html.escape(t) for t in xs], title="input tokens")
    fig.update_yaxes(tickvals=list(range(rows)), ticktext=[html.escape(t) for t in ys], title="generated tokens",
                     autorange="reversed")
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=min(900, 160 + 22 * rows))
    return fig


def _craft(ex: Explanation, figure: _Figures) -> str:
    parts = ["<h3>Concept importance</h3>" + figure(importance_bar(ex.scores))]
    crops = ex.extras.get("concept_crops")
    if isinstance(crops, np.ndarray) and crops.ndim == 5 and crops.size:
        parts.append('<h3>Crops where each concept is strongest</h3><p class="muted">one row per concept, '
                     f'concept 1 on top</p><img class="input" alt="concept crops" src="{_data_uri(raster.crops_png(crops))}">')
    lens = ex.extras.get("metrics")
    if isinstance(lens, dict):
        parts.append(_table("Concept metrics (Lens)", [(k, _json_value(v)) for k, v in lens.items()]))
    return "".join(parts)


def _agreement(agreement: Agreement, owners: list[int], figure: _Figures) -> str:
    names = [html.escape(m) for m in agreement.methods]
    fig = go.Figure(go.Heatmap(z=agreement.matrix, x=names, y=names, colorscale="Viridis", zmin=-1 if
                               agreement.matrix.min() < 0 else 0, zmax=1, text=np.round(agreement.matrix, 3),
                               texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin=dict(l=0, r=10, t=10, b=0), height=140 + 40 * len(names))
    items = ", ".join(str(i + 1) for i in owners)
    return f"<h3>{e(agreement.metric)} (items {e(items)})</h3>" + figure(fig)


def _environment(env: dict) -> str:
    rows = [(k, _json_value(v)) for k, v in env.items() if k != "packages"]
    packages = [(k, v or "not installed") for k, v in (env.get("packages") or {}).items()]
    return ('<section id="environment"><h2>Environment</h2>' + _table("Run", rows)
            + _table("Packages", packages, header=("package", "version")) + "</section>")
