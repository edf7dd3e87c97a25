"""End to end: Compare in Chromium, Add to report, then download each report format and open it."""

import io

from pypdf import PdfReader

from reports.bundle import read_bundle


def test_compare_then_download_every_format(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
    page.set_default_timeout(400_000)
    page.goto(server)
    page.get_by_text("Image attribution").wait_for()
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Compare explainers").wait_for()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("random for").wait_for()
    page.get_by_role("heading", name="Agreement").wait_for()
    # the faithfulness figures are one table (a canvas grid: its cells are checked in tests/app/test_compare_page.py)
    page.get_by_role("heading", name="Faithfulness").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # drawn after its heading, maybe a moment later
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    page.get_by_role("button", name="Add to report").first.click()
    page.get_by_text("to the report").first.wait_for()  # the toast
    assert page.locator('[data-testid="stException"]').count() == 0

    page.get_by_role("link", name="Report").click()
    page.get_by_text("1 items", exact=True).wait_for()  # the page's count, not the toast "(1 items)." still shown
    page.get_by_role("heading", name="Preview").wait_for()  # the page's run is done: its buttons are final
    files = {}
    for label in ("Download HTML", "Download PDF", "Download bundle"):
        with page.expect_download() as info:
            page.get_by_role("button", name=label).click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        files[label] = path.read_bytes()

    html = files["Download HTML"].decode("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "grad-cam" in html and "Egyptian cat" in html
    assert "<script src=" not in html  # self-contained: Plotly inlined
    pdf = PdfReader(io.BytesIO(files["Download PDF"]))
    assert len(pdf.pages) >= 1 and "grad-cam" in "".join(p.extract_text() for p in pdf.pages)
    report = read_bundle(files["Download bundle"])
    assert [i.explanation.method for i in report.items] == ["grad-cam"]
    assert report.items[0].metrics["lerf_auc"] > 0 and "srg" in report.items[0].metrics  # the headline figures

    # the downloaded HTML opens offline in the browser and draws its charts
    offline = browser.new_context(offline=True).new_page()
    offline.goto((tmp_path / "lumen-report.html").as_uri())
    offline.locator(".main-svg").first.wait_for(timeout=60_000)
    offline.close()
    page.close()
