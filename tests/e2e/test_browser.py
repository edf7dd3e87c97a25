"""End to end: the real app in a real headless Chromium, driven by Playwright."""

import os
import shutil

from tests.e2e.conftest import upload_image


def test_upload_run_grad_cam_and_see_heatmap(server, browser, chelsea, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(120_000)
    upload_image(page, server, chelsea, tmp_path / "chelsea.png")
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
