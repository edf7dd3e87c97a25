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
