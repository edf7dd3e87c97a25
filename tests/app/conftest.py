"""A fresh AppTest session of the whole app (the cached models are shared across sessions)."""

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def page_files() -> list[str]:
    """The page files app.py hands to ``st.Page``, relative to the repository root."""
    calls = [n for n in ast.walk(ast.parse(Path(APP).read_text())) if isinstance(n, ast.Call)]
    return [c.args[0].value for c in calls if getattr(c.func, "attr", None) == "Page"]


@pytest.fixture
def at():
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    assert not app.exception
    return app
