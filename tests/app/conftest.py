"""A fresh AppTest session of the whole app (the cached models are shared across sessions)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def at():
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    assert not app.exception
    return app
