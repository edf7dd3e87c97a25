"""End to end: the generation page in a real headless Chromium."""


def test_generation_page_runs_occlusion_and_draws_the_matrix(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(180_000)
    page.goto(f"{server}/generation")
    page.get_by_text("Generation attribution").wait_for()
    page.get_by_text("Given target").click()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Soft-NS").first.wait_for()
    heatmap = page.locator('[data-testid="stPlotlyChart"]').first
    heatmap.locator(".main-svg").first.wait_for()
    heatmap.locator(".heatmaplayer").first.wait_for(state="attached")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_the_continuation_shows_as_soon_as_it_is_generated_inside_the_one_progress_bar(server, browser):
    """Issue 17: the Run's generation and faithfulness passes were outside the bar, and nothing showed for minutes.
    The continuation shows while the run goes on (its methods and their faithfulness passes still to come), the
    bar naming the step; when the run ends, the page says where the time went."""
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(300_000)
    page.goto(f"{server}/generation")
    page.get_by_text("Generation attribution").wait_for()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("the methods run on it now").wait_for()  # drawn during the run only
    assert page.get_by_role("button", name="Cancel").count() == 1  # the run goes on
    page.get_by_text("This run took").wait_for()
    summary = page.get_by_text("This run took").inner_text()
    assert "Generating 8 tokens" in summary and "faithfulness of occlusion" in summary
    assert page.get_by_text("the methods run on it now").count() == 0  # the full result replaced the live feed
    page.get_by_text("Soft-NS").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
