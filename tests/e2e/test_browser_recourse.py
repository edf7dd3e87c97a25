"""End to end: the Tables page's recourse part in a real headless Chromium — the action set editor, the
responsiveness chart beside the SHAP waterfall, the fixed flag, the action set kept across a page switch."""

import os
import shutil

import pytest

from tests.tables_csv import shop_csv

pytestmark = pytest.mark.slow


def _local(page):
    """Show the Local tab (a rerun may draw the tabs anew, on their first tab): once the run has settled."""
    page.wait_for_function("document.querySelectorAll('[data-testid=stTab]').length == 2")
    tab = page.get_by_role("tab", name="Local")
    if tab.get_attribute("aria-selected") != "true":
        tab.click()


def _editor(page):
    return page.locator('[data-testid="stForm"]', has_text="Check responsiveness").locator('[data-testid="stDataFrame"]')


def _set_action(page, row: int, action: str):
    """Choose ``action`` in the action column of the editor's ``row`` (1 = the first feature)."""
    editor = _editor(page)
    editor.scroll_into_view_if_needed()
    cell = {"x": 250, "y": 17 + 35 * row}  # feature | type | action: the action column starts near 230 px
    editor.click(position=cell)
    editor.dblclick(position=cell)
    page.keyboard.type(action)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([a, r]) => { const cells = [...document.querySelectorAll('[data-testid=stForm] [data-testid=stDataFrame] td')];"
        " return cells.length > 3 && cells[(r - 1) * 7 + 2].innerText === a; }", arg=[action, row])


def test_action_editor_responsiveness_chart_and_fixed_flag(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.set_default_timeout(120_000)
    page.goto(f"{server}/tabular")
    page.get_by_role("heading", name="Tables").wait_for()
    page.get_by_text("Upload CSV", exact=True).click()
    page.locator('input[type="file"]').set_input_files(str(shop_csv(tmp_path)))
    page.get_by_text("Guessed target").wait_for()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("held-out accuracy").wait_for()
    _local(page)
    page.get_by_role("button", name="Explain this row").click()
    page.get_by_text("shap-tree for").wait_for(state="attached")
    _local(page)
    page.get_by_text("= base value").wait_for()
    # nothing is actionable until the person says so; bounds and steps come from the data
    _editor(page).locator("td").first.wait_for(state="attached")
    assert _editor(page).locator("td").all_inner_texts()[:3] == ["size", "number", "immutable"]
    page.get_by_text("mark the features this person can change").wait_for()

    _set_action(page, 1, "both")
    page.get_by_role("button", name="Check responsiveness").click()
    page.get_by_text("Not fixed: 1 feature alone can reach class no").first.wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]', has_text="Responsiveness")
    chart.locator(".main-svg").first.wait_for()
    waterfall = page.locator('[data-testid="stPlotlyChart"]', has_text="Waterfall")
    assert abs(chart.bounding_box()["y"] - waterfall.bounding_box()["y"]) < 80  # side by side
    assert chart.bounding_box()["x"] > waterfall.bounding_box()["x"] + 300
    page.get_by_text("SHAP's top features vs the responsive ones").wait_for()
    page.locator("td", has_text="unresponsive: immutable").first.wait_for(state="attached")  # colour: SHAP's top
    shot = tmp_path / "recourse.png"
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(shot))
    if os.environ.get("LUMEN_SCREENSHOT_RECOURSE"):
        shutil.copy(shot, os.environ["LUMEN_SCREENSHOT_RECOURSE"])

    # the action set is kept across a page switch
    page.get_by_role("link", name="Compare").click()
    page.get_by_role("heading", name="Compare").wait_for()
    page.get_by_role("link", name="Tables").click()
    page.get_by_role("heading", name="Tables").wait_for()
    _local(page)
    _editor(page).locator("td").first.wait_for(state="attached")
    assert _editor(page).locator("td").all_inner_texts()[:3] == ["size", "number", "both"]

    _set_action(page, 1, "immutable")
    page.get_by_role("button", name="Check responsiveness").click()
    page.get_by_text("Fixed prediction: no feature is actionable").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
