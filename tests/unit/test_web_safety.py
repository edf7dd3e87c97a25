"""Web safety: XSRF and CORS on in the project's config, raw HTML only from escaping builders, and those escape."""

import ast
import os
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from explainers.core.explanation import Explanation
from reports.figures.token_highlight import token_html

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".streamlit" / "config.toml"
SKIPPED_DIRS = {".venv", "tests", ".git", "__pycache__", "node_modules"}

# Functions whose result may be rendered as raw HTML: each escapes every user string (tested below).
ESCAPING_BUILDERS = {"token_html", "view_html"}
# Functions whose result a frame may show: a page of ours that holds the content in a sandboxed frame without
# allow-same-origin (an opaque origin, as a data: URL gives), the content escaped into its srcdoc (tested below).
SANDBOXING_BUILDERS = {"preview_document"}
STREAMLIT_MODULES = {"st", "streamlit", "components", "stc", "components.v1", "st.components.v1",
                     "streamlit.components.v1"}

SCRIPT = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(1)>'


# --- config ---------------------------------------------------------------------------------------------


def test_xsrf_and_cors_protection_are_on_in_the_project_config():
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    assert server.get("enableXsrfProtection") is True
    # Streamlit (1.67) does not turn CORS protection back on when XSRF is on: enableCORS=false would let any
    # origin open a WebSocket to the app, so it must stay on (its default) and is written out explicitly.
    assert server.get("enableCORS", True) is True
    # SameSite=None would send the XSRF cookie along with cross-site requests
    assert str(server.get("xsrfCookieSameSite", "lax")).lower() != "none"


def test_tracebacks_stay_out_of_the_browser():
    client = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["client"]
    assert client.get("showErrorDetails") == "none"


def test_streamlit_reads_those_options_from_the_project_config():
    """Guards against a misspelt option name, which Streamlit would ignore and leave at its default."""
    from streamlit import config

    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        options = config.get_config_options(force_reparse=True)
        for name, value in (("server.enableXsrfProtection", True), ("server.enableCORS", True),
                            ("client.showErrorDetails", "none"), ("server.fileWatcherType", "none")):
            assert options[name].value == value
            assert Path(options[name].where_defined).resolve() == CONFIG.resolve(), name
        for section, values in tomllib.loads(CONFIG.read_text(encoding="utf-8")).items():
            for key in values:
                assert f"{section}.{key}" in options, f"unknown Streamlit option {section}.{key}"
    finally:
        os.chdir(cwd)
        config.get_config_options(force_reparse=True)


# --- raw HTML in the code ----------------------------------------------------------------------------------


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _built_by_escaper(node) -> bool:
    return isinstance(node, ast.Call) and _dotted(node.func).rsplit(".", 1)[-1] in ESCAPING_BUILDERS


def _is_data_url(node) -> bool:
    """A literal ``"data:…" + …``: the frame gets an opaque origin, so nothing in it can reach the app."""
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        node = node.left
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("data:")


def _first_argument(call: ast.Call, *names: str):
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in names), None)


def raw_html_problems(source: str) -> list[str]:
    """Every call that renders raw HTML from something other than an escaping builder (or a frame that could
    reach the app), as 'line: what'."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streamlit"):
            for alias in node.names:
                if alias.name in ("html", "iframe"):
                    problems.append(f"{node.lineno}: imports streamlit's {alias.name} by name (use st.{alias.name})")
        if not isinstance(node, ast.Call):
            continue
        func = _dotted(node.func)
        base, _, name = func.rpartition(".")
        unsafe = next((k.value for k in node.keywords if k.arg == "unsafe_allow_html"), None)
        if unsafe is not None and not (isinstance(unsafe, ast.Constant) and unsafe.value is False):
            if not _built_by_escaper(_first_argument(node, "body")):
                problems.append(f"{node.lineno}: {func}(…, unsafe_allow_html=…) of HTML from no escaping builder")
        if base in STREAMLIT_MODULES and name == "html":
            if not _built_by_escaper(_first_argument(node, "body", "html")):
                problems.append(f"{node.lineno}: {func}(…) of HTML from no escaping builder")
        if base in STREAMLIT_MODULES and name == "iframe":
            src = _first_argument(node, "src", "url")
            sandboxed = isinstance(src, ast.Call) and _dotted(src.func).rsplit(".", 1)[-1] in SANDBOXING_BUILDERS
            if not (_is_data_url(src) or sandboxed):
                problems.append(f"{node.lineno}: {func}(…) of something other than a data: URL or a sandboxed page")
    return problems


def project_sources() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if not SKIPPED_DIRS & set(p.relative_to(ROOT).parts))


def test_the_scan_sees_the_pages():
    names = {p.relative_to(ROOT).as_posix() for p in project_sources()}
    assert {"app.py", "pages/text.py", "pages/compare.py", "pages/report.py"} <= names
    assert not any(n.startswith(("tests/", ".venv/")) for n in names)


def test_no_raw_html_from_anything_but_an_escaping_builder():
    problems = []
    for path in project_sources():
        problems += [f"{path.relative_to(ROOT)}:{p}" for p in raw_html_problems(path.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", [
    "st.markdown(text, unsafe_allow_html=True)",
    "st.markdown(f'<b>{name}</b>', unsafe_allow_html=True)",
    "st.write(body=user, unsafe_allow_html=1)",
    "st.caption(token_html(t, e) + user, unsafe_allow_html=True)",
    "st.html(user)",
    "st.html(html=f'<p>{name}</p>')",
    "import streamlit.components.v1 as components\ncomponents.html(page)",
    "streamlit.components.v1.html(page)",
    "from streamlit import html\nhtml(page)",
    "st.iframe(url)",
    "st.iframe('https://example.org/' + name)",
    "st.iframe(to_html(report))",
    "st.iframe(preview_document + user)",
    "st.markdown(x, unsafe_allow_html=flag)",
])
def test_the_scan_catches_raw_html_from_user_strings(source):
    assert raw_html_problems(source)


@pytest.mark.parametrize("source", [
    "st.markdown(token_html(text, e), unsafe_allow_html=True)",
    "st.markdown(text, unsafe_allow_html=False)",
    "st.markdown(text)",
    "st.iframe('data:text/html;base64,' + encoded, height=900)",
    "st.iframe(preview_document(html), height=900)",
    "html.escape(name)",
])
def test_the_scan_lets_escaped_html_and_plain_markdown_through(source):
    assert not raw_html_problems(source)


# --- the escaping builder --------------------------------------------------------------------------------


class _Html(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _explanation(text: str, tokens: list[str], spans: list[tuple[int, int]], special: list[bool]) -> Explanation:
    return Explanation(np.linspace(-1, 1, len(tokens)).astype(np.float32), "occlusion", "text", "m", 1, "positive",
                       tokens=tokens, extras={"offsets": [list(s) for s in spans], "special": special,
                                              "word_ids": [None if s else i for i, s in enumerate(special)]})


def _view_html(text, e, per_word):
    from reports.views import explanation_views, view_html

    view = next(v for v in explanation_views(e, text, {"token_highlight": {"per_word": per_word}})
                if v.kind == "token_highlight")
    return view_html(view)


@pytest.mark.parametrize("builder", [token_html, _view_html], ids=["token_html", "view_html"])
@pytest.mark.parametrize("per_word", [False, True])
def test_token_html_escapes_hostile_text_and_tokens(per_word, builder):
    text = f"ok {SCRIPT} and {ATTR} & more"
    a, b = text.index(SCRIPT), text.index(ATTR)
    tokens = [ATTR, "ok", SCRIPT, "and", ATTR, "&", SCRIPT]  # a special token, text pieces, and a label-only token
    spans = [(0, 0), (0, 2), (a, a + len(SCRIPT)), (a + len(SCRIPT) + 1, b - 1), (b, b + len(ATTR)),
             (b + len(ATTR) + 1, b + len(ATTR) + 2), (len(text), len(text))]
    special = [True, False, False, False, False, False, False]
    out = builder(text, _explanation(text, tokens, spans, special), per_word=per_word)
    parser = _Html()
    parser.feed(out)
    # only the builder's own markup: a div of spans, no event handler, no other tag
    assert {t for t, _ in parser.tags} == {"div", "span"}
    assert all(not k.startswith("on") and k in ("class", "style", "title") for _, attrs in parser.tags for k in attrs)
    # the hostile strings come back as text and titles, character for character
    shown = "".join(parser.text)
    assert SCRIPT in shown and ATTR in shown and "& more" in shown
    titles = [attrs["title"] for _, attrs in parser.tags if "title" in attrs]
    assert any(t.startswith(SCRIPT + ":") for t in titles) and any(t.startswith(ATTR + ":") for t in titles)
    assert SCRIPT not in out and ATTR not in out and "<script" not in out and "<img" not in out


# --- user strings in Streamlit markdown ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["![x](http://evil.test/t.png)", "[click](javascript:alert(1))",
                                  "**bold** _it_ `code`", "http://evil.test/x", "# heading",
                                  "$x^2$ ~~s~~ <b>b</b> a\\b", "1. item"])
def test_plain_shows_a_file_name_as_itself_in_markdown(name):
    from markdown_it import MarkdownIt

    from pages.widgets import plain

    rendered = MarkdownIt("commonmark").enable("strikethrough")
    parser = _Html()
    parser.feed(rendered.render(plain(name)))
    assert {t for t, _ in parser.tags} <= {"p"}
    assert "".join(parser.text).strip() == name


HOSTILE_NAMES = ["![x](http://127.0.0.1:9/x.png)", "[click](javascript:alert(1))", '<a href="https://evil.example/phish">x</a>',
                 "**bold** _it_ `code`", "$x^2$ ~~s~~ a\\b", "mail me@evil.test or www.evil.test"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_plain_sentence_shows_a_quoted_name_as_itself_in_a_sentence(name):
    """Errors and notes quote file and column names: the sentence renders as text, its punctuation kept."""
    from markdown_it import MarkdownIt

    from models.errors import shown
    from pages.widgets import plain_sentence

    sentence = f"There is no column {shown(name)} in the table (see the notes: 3 columns)."
    rendered = MarkdownIt("commonmark").enable("strikethrough")
    parser = _Html()
    parser.feed(rendered.render(plain_sentence(sentence)))
    assert {t for t, _ in parser.tags} <= {"p"}
    assert "".join(parser.text).strip() == sentence
    escaped = plain_sentence(sentence)
    assert "://" not in escaped and "www." not in escaped.lower() and "@" not in escaped.replace("\\@", "")
    assert "(see the notes: 3 columns)." in escaped  # ordinary punctuation stays as typed


# --- user strings in Plotly figures (Plotly renders <a href>, <b>, <br> ... in labels, titles and hover text)


LINK = '<a href="https://evil.example/phish">x</a>'


def test_tables_figures_show_a_hostile_column_name_as_text():
    """A CSV column named like a link: no figure of the Tables page carries a tag, and the name shows escaped."""
    import numpy as np

    from explainers.core.explanation import Explanation
    from models.inputs.tables import read_csv
    from reports.figures import renderer

    frame, _ = read_csv(f'"{LINK.replace(chr(34), chr(34) * 2)}",colour,y\n1,red,0\n2,<b>blue</b>,1\n3,red,0\n'.encode())
    names = list(frame.columns[:2])
    assert names[0] == LINK
    rng = np.random.default_rng(0)
    values, rows = rng.standard_normal((3, 2)), np.array([[1.0, 0], [2, 1], [3, 0]])
    glob = Explanation(np.array([0.5, 0.25]), "shap-tree", "tabular", "m", feature_names=names,
                       extras={"shap_values": values, "rows": rows, "categories": {"colour": ["red", "<b>blue</b>"]}})
    local = Explanation(np.array([0.5, -0.25]), "shap-tree", "tabular", "m", feature_names=names, base_value=0.1)
    from reports.figures.ranked_bars import magnitude_bars

    figures = [renderer("ranked_bars").plotly(magnitude_bars(names, [0.5, 0.25], f"Mean |SHAP| for {LINK}")),
               renderer("beeswarm").figure(glob),
               renderer("dependence").figure(glob, LINK, "colour"),
               renderer("dependence").figure(glob, "colour", LINK),
               renderer("waterfall").figure(local, 0.35, output_name=f"probability ({LINK})")]
    for fig in figures:
        text = fig.to_json()
        assert "<a" not in text and "<b>" not in text, text[:400]
        assert "&lt;a href=" in text  # shown, as text


def test_other_figures_escape_class_names_and_tokens():
    import numpy as np

    from explainers.core.explanation import Explanation
    from reports.figures import renderer

    text_e = Explanation(np.array([0.5, -0.5]), "occlusion", "text", "m", 0, LINK, tokens=[LINK, "<br>"],
                         extras={"offsets": [(0, 1), (1, 2)], "special": [False, False], "word_ids": [0, 1]})
    gen_e = Explanation(np.ones((1, 2)), "attention", "generation", "m", tokens=[LINK, "b"], target_tokens=["<i>"])
    image_e = Explanation(np.zeros((4, 4)), "grad-cam", "image", "m")
    figures = [renderer("top_classes").figure([(0, LINK, 0.9)]), renderer("ranked_bars").figure(text_e, title=LINK),
               renderer("generation_matrix").figure(gen_e),
               renderer("agreement_matrix").figure([LINK, "b"], np.eye(2), "spearman"),
               renderer("image_overlay").figure(image_e, np.zeros((4, 4, 3), np.uint8), title=f"grad-cam — {LINK}")]
    for fig in figures:
        text = fig.to_json()
        assert "<a" not in text and "<br>" not in text and "<i>" not in text, text[:400]


def test_the_sandboxing_builder_keeps_the_report_in_an_opaque_origin():
    from reports.html import preview_document

    report = '<p title="x">a</p><iframe srcdoc="&quot;"></iframe>"\'><script>alert(1)</script>&amp; </iframe>'
    page = _Html()
    page.feed(preview_document(report))
    frames = [attrs for tag, attrs in page.tags if tag == "iframe"]
    assert [tag for tag, _ in page.tags] == ["html", "head", "meta", "title", "style", "body", "iframe"]
    assert len(frames) == 1 and "allow-same-origin" not in frames[0]["sandbox"]
    assert frames[0]["srcdoc"] == report  # the whole report, escaped into the attribute and nothing outside it
