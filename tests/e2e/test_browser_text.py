"""End to end: the text page in a real headless Chromium: type a text, run a method, see highlighted tokens and the chart."""

def test_type_text_run_and_see_highlighted_tokens(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(120_000)
    page.goto(server)
    page.get_by_role("link", name="Text classification").click()
    page.get_by_text("Predictions").wait_for()
    box = page.locator("textarea").first
    box.fill("The concert was dreadful and the sound was terrible")
    box.press("Control+Enter")
    page.get_by_text("Class to explain").wait_for()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("integrated-gradients for negative").first.wait_for()
    tokens = page.locator("span.lumen-token")
    tokens.first.wait_for()
    assert "dreadful" in " ".join(tokens.all_inner_texts())
    chart = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    chart.locator(".main-svg").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
