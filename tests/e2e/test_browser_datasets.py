"""End to end: the Datasets page in a real headless Chromium — open a job's result directory (real digits explained
by the embedded digits ViT, tests/batch_results.py), sort the items by a faithfulness column, open an item."""

import os
import shutil
import time

import pytest

from explainers.batch import summary
from tests.batch_results import make_results

# The page's column widths (pages/datasets.py WIDTHS) place the headers on the grid's canvas: the row markers, then
# path, label, prediction, confidence and correct; the first figure column ("grad-cam · srg") follows them.
MARKERS, BEFORE_FIGURES, FIGURE = 35, 180 + 70 + 90 + 100 + 80, 140
HEADER_H, ROW_H = 35, 35


@pytest.fixture(scope="module")
def job(vit, tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return make_results(root / "out", root / "data", vit, per_class=2)


def _column(grid, col: int, n: int) -> list[str]:
    """The first ``n`` cells of a column as the grid shows them (glide's accessible cells follow its sort)."""
    return [grid.get_by_test_id(f"glide-cell-{col}-{r}").inner_text() for r in range(n)]


def test_open_a_result_directory_sort_by_a_faithfulness_column_and_open_an_item(server, browser, job, tmp_path):
    results = summary.open_results(job)
    table = summary.items_table(results)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(120_000)
    page.goto(f"{server}/datasets")
    page.get_by_role("heading", name="Datasets").wait_for()
    field = page.get_by_label("Result directory (on the server)")
    field.fill(str(job))
    field.press("Enter")
    page.locator("[data-testid=stButton] button").filter(has_text="Open").first.click()
    page.get_by_role("heading", name="Mean map per class").wait_for()
    page.get_by_text("21 inputs × 2 methods").wait_for()
    page.get_by_role("heading", name="Items").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0

    grid = page.locator('[data-testid="stDataFrame"]').last
    grid.scroll_into_view_if_needed()
    grid.get_by_test_id("glide-cell-6-0").wait_for(state="attached")
    column = list(table.columns[1:]).index("grad-cam · srg") + 1  # glide's column index (1: path)
    assert _column(grid, 1, 3) == table["path"].head(3).tolist()  # the table as written: by path
    box = grid.bounding_box()
    srg = table["grad-cam · srg"].dropna().sort_values()
    ascending = [repr(float(v)) for v in srg.head(5)]
    descending = [repr(float(v)) for v in srg.iloc[::-1].head(5)]
    assert _column(grid, column, 5) != ascending  # the table as written is not sorted by it
    for _ in range(4):  # a click while the grid still draws can be lost; a late one may sort descending
        page.mouse.click(box["x"] + MARKERS + BEFORE_FIGURES + FIGURE / 2, box["y"] + HEADER_H / 2)  # sort by it
        deadline = time.time() + 20
        while _column(grid, column, 5) not in (ascending, descending) and time.time() < deadline:
            time.sleep(0.3)
        if _column(grid, column, 5) == ascending:
            break
    shown = [float(v) for v in _column(grid, column, 5)]
    assert shown == pytest.approx(srg.head(5).tolist()) and shown == sorted(shown)
    lowest = table.loc[srg.index[0], "path"]
    assert _column(grid, 1, 1) == [lowest]

    page.mouse.click(box["x"] + MARKERS / 2, box["y"] + HEADER_H + ROW_H / 2)  # select the (sorted) first row
    button = page.get_by_role("button", name="Add this item to the report")
    button.wait_for()
    page.get_by_text(f"{lowest}: label").wait_for()  # the item opened is the row selected after sorting
    maps = page.locator('[data-testid="stPlotlyChart"]')
    page.locator('[data-testid="stImage"] img').last.wait_for()  # its input
    page.locator('[data-testid="stPlotlyChart"] .main-svg').last.wait_for()
    assert maps.count() >= 3 + 2  # mean maps, two distributions, and the item's two maps
    button.scroll_into_view_if_needed()
    assert page.locator('[data-testid="stException"]').count() == 0
    shot = tmp_path / "datasets_page.png"
    page.screenshot(path=str(shot))
    if os.environ.get("LUMEN_SCREENSHOT_DATASETS"):
        shutil.copy(shot, os.environ["LUMEN_SCREENSHOT_DATASETS"])
    button.click()
    page.get_by_text("to the report (2 items)").wait_for()  # a toast: both methods' maps of the item
    page.close()
