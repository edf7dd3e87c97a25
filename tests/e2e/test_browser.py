"""End to end: the real app in a real headless Chromium, driven by Playwright."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "streamlit.log").open("w")
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
            pytest.fail(f"streamlit did not start; see {log.name}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


def test_upload_run_grad_cam_and_see_heatmap(server, browser, chelsea, tmp_path):
    image_path = tmp_path / "chelsea.png"
    image_path.write_bytes(encode(Image.fromarray(chelsea), "PNG"))
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(120_000)
    page.goto(server)
    page.get_by_text("Image attribution").wait_for()
    page.get_by_text("Upload", exact=True).click()
    page.locator('input[type="file"]').set_input_files(str(image_path))
    page.get_by_text("Top-5 predictions").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()  # the top-5 bars
    page.get_by_role("button", name="Run").click()
    page.get_by_text("grad-cam for").wait_for()
    heatmap = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    heatmap.locator(".main-svg").first.wait_for()
    heatmap.locator(".heatmaplayer").first.wait_for(state="attached")
    assert "Egyptian cat" in page.get_by_text("grad-cam for").inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "image_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("LUMEN_SCREENSHOT"):
        shutil.copy(shot, os.environ["LUMEN_SCREENSHOT"])
    page.close()
