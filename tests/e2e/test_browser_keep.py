"""End to end in Chromium (issue 17, deliver 1): a result survives a page switch, the report survives a reload, and
a shared view URL opens the same view in a fresh browser context."""

from urllib.parse import urlencode


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_result_survives_a_page_switch_and_the_report_a_reload(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(400_000)
    page.goto(server)
    page.get_by_text("Image attribution").wait_for()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("grad-cam — Egyptian cat").wait_for()  # the heatmap's title
    page.get_by_role("button", name="Add to report").first.click()
    page.get_by_text("to the report").first.wait_for()  # the toast
    page.wait_for_url("**report=*")  # saved: its id is in the URL

    page.get_by_role("link", name="Text classification").click()
    page.get_by_text("Text to classify").wait_for()
    page.get_by_role("link", name="Image").click()
    page.get_by_text("Image attribution").wait_for()
    page.get_by_text("grad-cam — Egyptian cat").wait_for(timeout=120_000)  # the result is still there
    _no_exception(page)

    page.reload()
    page.get_by_text("Your report is back: 1 item.").wait_for()
    page.get_by_role("link", name="Report").click()
    page.get_by_text("1. grad-cam for Egyptian cat").wait_for()
    _no_exception(page)
    page.close()


def test_a_shared_view_url_opens_the_same_view_in_a_fresh_context(server, browser):
    view = {"model": "efficientnet-lite0", "sample": "coffee", "class": "967", "methods": "saliency,grad-cam,nope"}
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(400_000)
    page.goto(f"{server}/?{urlencode(view)}")
    note = page.get_by_text("Opened from a link")
    note.wait_for()
    assert "press Run" in note.inner_text() and "nope is not available" in note.inner_text()
    page.set_default_timeout(60_000)  # the page is drawn: what follows is there, or a failure

    def chosen(label: str) -> str:  # a selectbox's shown value
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
        return box.locator("input").first.input_value()

    assert chosen("Sample image") == "coffee"
    assert chosen("Class to explain").startswith("espresso (967)")
    gradient = page.locator('[data-testid="stMultiSelect"]').filter(has_text="gradient methods")  # its family's tab
    assert "saliency" in gradient.first.inner_text()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("saliency — espresso").wait_for(timeout=400_000)
    page.get_by_text("grad-cam — espresso").wait_for()
    _no_exception(page)
    context.close()
