"""End to end: SHAP-KL on the Tables page in a real headless Chromium — explain a row, run the leakage check."""

from tests.e2e.picks import choose


def test_shap_kl_waterfall_and_the_leakage_check(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(180_000)
    page.goto(f"{server}/tabular")
    page.get_by_role("heading", name="Tables").wait_for()
    page.get_by_text("held-out accuracy").wait_for()  # breast cancer, a random forest
    choose(page, "Explainer", "shap-kl", "explains the whole distribution over classes", timeout_ms=60_000)
    page.get_by_role("tab", name="Local").click()
    page.get_by_role("button", name="Explain this row").click()
    page.get_by_text("shap-kl for all classes (distribution)").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .waterfalllayer').first.wait_for(state="attached")
    page.get_by_role("button", name="Run the leakage check").click()
    page.get_by_text("they leak the label").wait_for()
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.nth(1).wait_for()  # the sentence can show a moment before the two figures above it are drawn
    assert metrics.count() == 2
    assert "shap-tree · leakage at k = 3" in metrics.nth(0).inner_text()
    assert "shap-kl · leakage at k = 3" in metrics.nth(1).inner_text()
    assert "+0.0000" in metrics.nth(1).inner_text()  # class-independent: exactly 0 over all classes
    assert page.locator('[data-testid="stException"]').count() == 0
    page.get_by_text("they leak the label").scroll_into_view_if_needed()
    shot = tmp_path / "leakage.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    page.close()
