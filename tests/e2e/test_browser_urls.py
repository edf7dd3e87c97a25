"""Every page's URL opened directly, on a fresh server, shows app.py's sidebar and only app.py's pages.

A fresh server matters: a folder named pages/ beside app.py starts Streamlit 1.67 in its legacy multipage mode,
which runs a page's file without app.py and lists every file of the folder, until ``st.navigation`` is first
called in the process (tests/app/test_app_shell.py). The first request here is a page's URL, never the root.
"""

import ast
from pathlib import Path

from tests.app.conftest import page_files
from tests.e2e.conftest import ROOT, start_server

NAV = '[data-testid="stSidebarNav"]'


def title(file: str) -> str:
    """The page's ``st.title``."""
    for node in ast.walk(ast.parse((ROOT / file).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "title":
            return node.args[0].value
    raise AssertionError(f"{file} has no st.title")


def test_every_page_url_opened_directly_runs_app_first(browser, tmp_path):
    files = page_files()
    # the last page first, so that the very first request of the server is not the default (root) page
    order = files[::-1]
    with start_server(tmp_path / "streamlit.log") as server:
        seen = {}
        for file in order:
            path = Path(file).stem  # st.Page's URL path: the file's name
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{server.url}/{path}")
            page.get_by_role("heading", name=title(file)).first.wait_for()
            page.get_by_text("Device:").first.wait_for()  # written by app.py in the sidebar
            seen[path] = page.locator(NAV).inner_text()
            # Streamlit shows the default page (app.py's first, the image page) at the root; the query string
            # is the page's own (the Image page writes its view there, to be shared)
            assert page.url.split("?")[0].rstrip("/") == (server.url if file == files[0] else f"{server.url}/{path}")
            assert page.locator('[data-testid="stException"]').count() == 0
            page.close()
    assert list(seen) == [Path(f).stem for f in order]
    for nav in seen.values():  # app.py's navigation, not one entry per file of pages/
        assert "widgets" not in nav and "bounded" not in nav and "Text classification" in nav
