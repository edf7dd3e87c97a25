"""End to end: the Tables page in a real headless Chromium — upload a CSV, explain globally and one row."""

import os
import shutil


from tests.tables_csv import shop_csv


def test_csv_upload_global_and_local_shap(server, browser, tmp_path):
    csv_path = shop_csv(tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.set_default_timeout(120_000)
    page.goto(f"{server}/tabular")
    page.get_by_role("heading", name="Tables").wait_for()
    page.get_by_text("Upload CSV", exact=True).click()
    page.locator('input[type="file"]').set_input_files(str(csv_path))
    page.get_by_text("Guessed target").wait_for()  # the CSV is previewed and its target guessed, not trained on
    assert page.get_by_text("Data preview: 120 rows × 4 columns").count() == 1
    assert page.get_by_text("held-out accuracy").count() == 0
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("held-out accuracy").wait_for()
    page.get_by_role("button", name="Explain globally").click()
    page.get_by_text("shap-tree on 30 rows").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3  # bar, beeswarm, dependence
    page.get_by_role("tab", name="Local").click()
    page.get_by_role("button", name="Explain this row").click()
    page.get_by_text("= base value").wait_for()
    page.get_by_text("(recorded in row 0)").wait_for()  # actual vs predicted beside the explanation
    page.locator('[data-testid="stPlotlyChart"] .waterfalllayer').first.wait_for(state="attached")
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "tables_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("LUMEN_SCREENSHOT_TABLES"):
        shutil.copy(shot, os.environ["LUMEN_SCREENSHOT_TABLES"])
    page.close()


def test_xgboost_waterfall_and_interaction_heatmap(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.set_default_timeout(180_000)
    page.goto(f"{server}/tabular")
    page.get_by_role("heading", name="Tables").wait_for()
    page.get_by_text("held-out accuracy").wait_for()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Model kind").click()
    page.get_by_role("option", name="XGBoost (100 trees of depth 4)").click()
    page.get_by_text("scores add up to the model's log-odds margin").wait_for()
    page.get_by_text("Also TreeSHAP interaction values").click()
    page.get_by_role("tab", name="Local").click()
    page.get_by_role("button", name="Explain this row").click()
    page.get_by_text("= base value").wait_for()
    page.get_by_text("TreeSHAP interaction values (this row)").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .waterfalllayer').first.wait_for(state="attached")
    heatmap = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    heatmap.scroll_into_view_if_needed()
    heatmap.locator(".heatmaplayer").first.wait_for(state="attached")
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "interactions.png"
    heatmap.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.close()
