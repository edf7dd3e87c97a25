"""app.py runs before every page, though a folder named pages/ makes Streamlit start in its legacy multipage mode.

In that mode (on until ``st.navigation`` is first called in the process, and again at the start of every AppTest
run) Streamlit runs a page's file alone: no sidebar, no error boundary of ``run_page``. Every page therefore calls
``app_runs_first()`` before anything else; tests/e2e/test_browser_urls.py checks the same on a fresh server.
"""

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, page_files

ROOT = Path(APP).parent


def test_app_lists_the_pages_folder():
    files = page_files()
    assert len(files) == 9 and all(f.startswith("pages/") and (ROOT / f).is_file() for f in files)


def test_every_page_makes_sure_app_ran_before_anything_else():
    for file in page_files():
        body = ast.parse((ROOT / file).read_text()).body
        first = next(n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.Expr))
                     or isinstance(n, ast.Expr) and isinstance(n.value, ast.Call))
        assert ast.unparse(first) == "app_runs_first()", file


def test_switching_to_a_page_runs_app_first():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/report.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Report"]
    assert any(c.value.startswith("Device:") for c in at.sidebar.caption)  # app.py's sidebar
