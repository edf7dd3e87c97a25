"""The Report page's Preview in Chromium: a 60-item report (megabytes of HTML) renders in the page, its charts drawn."""

import hashlib
import os

import numpy as np

from explainers import Explanation
from reports.bundle import write_bundle
from reports.report import HASH_OF_FILE, ModelIdentity, ReportItem, new_report

N_ITEMS = 60


def _photo(seed: int, side: int = 160) -> np.ndarray:
    """A smooth colour image (as photos compress), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    channels = [np.sin(2 * np.pi * (rng.random() * 3 * x + rng.random() * 3 * y) + rng.random() * 6) for _ in range(3)]
    return ((np.stack(channels, -1) + 1) * 127.5 + rng.normal(0, 6, (side, side, 3))).clip(0, 255).astype(np.uint8)


def _report_bundle() -> bytes:
    model = ModelIdentity("tiny", "hand-made", hashlib.sha256(b"w").hexdigest(), HASH_OF_FILE)
    items = []
    for k in range(N_ITEMS):
        image = _photo(k)
        e = Explanation(_photo(k + 1000)[..., 0].astype(np.float32) / 255, "grad-cam", "image", "tiny", 3, "cat",
                        params={"seed": k})
        items.append(ReportItem(e, image, model, [(3, "cat", 0.75)], {"deletion_auc": 0.1}, input_name=f"photo{k}.png"))
    return write_bundle(new_report("Sixty items", items))


def test_the_preview_of_a_60_item_report_renders(server, browser, tmp_path):
    path = tmp_path / "sixty.zip"
    path.write_bytes(_report_bundle())
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(300_000)
    page.goto(server)
    page.get_by_text("Image attribution").wait_for()
    page.get_by_role("link", name="Report").click()
    page.get_by_text("Lumen bundle (.zip)").wait_for()
    page.locator('input[type="file"]').set_input_files(str(path))
    page.get_by_text(f"{N_ITEMS} items", exact=True).wait_for()
    page.get_by_role("heading", name="Preview").wait_for()
    outer = page.frame_locator('iframe[title]').last  # the page's frame, then the report's sandboxed frame
    report = outer.frame_locator('iframe[title="Report preview"]')
    report.get_by_role("heading", name="Sixty items").wait_for()
    report.locator(f"#item-{N_ITEMS}").wait_for(state="attached")
    report.locator(".main-svg").first.wait_for()  # Plotly ran inside the sandbox
    src = page.locator("iframe").last.get_attribute("src") or ""
    assert not src.startswith("data:")
    assert "about:blank#blocked" not in [f.url for f in page.frames]
    page.get_by_role("heading", name="Preview").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "preview.png"))
    if os.environ.get("LUMEN_SCREENSHOTS"):  # a copy to look at
        page.screenshot(path=os.path.join(os.environ["LUMEN_SCREENSHOTS"], "preview.png"))
    page.close()
