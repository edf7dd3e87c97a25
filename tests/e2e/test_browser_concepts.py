"""End to end: the Concepts page in headless Chromium — sample views, Run, importance, concept maps, clusters."""

def test_concepts_page_runs_craft(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.set_default_timeout(180_000)
    page.goto(server)
    page.get_by_text("Image attribution").wait_for()
    page.get_by_role("link", name="Concepts").click()
    page.get_by_text("Concepts (CRAFT)").wait_for()
    page.get_by_text("Estimated cost:").wait_for()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("craft for").wait_for()
    assert "Egyptian cat" in page.get_by_text("craft for").inner_text()
    page.get_by_text("Strategic cluster graph").wait_for()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(3).wait_for()  # global importance, concept maps, local importance, cluster graph
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for(state="attached")
    assert page.get_by_text("C-Insertion").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
