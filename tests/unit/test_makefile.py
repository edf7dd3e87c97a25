"""`make run PORT=8600` serves the app on that port; without PORT, Streamlit's own default stands (dry runs only)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def _run_line(*args: str) -> str:
    out = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if "streamlit run app.py" in line)


def test_make_run_takes_the_port():
    assert _run_line("PORT=8600").rstrip().endswith("streamlit run app.py --server.port 8600")


def test_make_run_without_port_leaves_streamlits_default():
    assert "--server.port" not in _run_line()
    assert "--server.port" not in _run_line("PORT=")
