"""Shared by the browser tests: one Streamlit server and one headless Chromium per test session."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import encode

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LUMEN_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@pytest.fixture(scope="session")
def server(running_server) -> str:
    return running_server.url


@contextmanager
def start_server(log_path: Path):
    """A Streamlit server of the app on a free port, up and healthy; stopped on leaving."""
    port = free_port()
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"streamlit did not start; see {log.name}")
        time.sleep(0.5)
    try:
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def running_server(tmp_path_factory):
    with start_server(tmp_path_factory.mktemp("server") / "streamlit.log") as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


def upload_image(page, url: str, image, path: Path) -> None:
    """Open the image page at ``url`` and upload ``image`` (H×W×3 uint8), written to ``path`` as a PNG."""
    path.write_bytes(encode(Image.fromarray(image), "PNG"))
    page.goto(url)
    page.get_by_text("Image attribution").wait_for()
    page.get_by_text("Upload", exact=True).click()
    page.locator('input[type="file"]').set_input_files(str(path))
    page.get_by_text("Top-5 predictions").wait_for()
