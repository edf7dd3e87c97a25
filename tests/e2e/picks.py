"""Picking a choice in a real browser, where a Streamlit rerun still under way can swallow the first pick."""

from playwright.sync_api import TimeoutError as PlaywrightTimeout


def choose(page, box: str, option: str, then: str, tries: int = 3, timeout_ms: int = 120_000) -> None:
    """Pick ``option`` in the selectbox labelled ``box`` (sidebar or main area) until ``then`` shows."""
    for attempt in range(tries):
        page.locator('[data-testid="stSelectbox"]').filter(has_text=box).first.click()
        page.get_by_role("option", name=option).first.click()
        try:
            page.get_by_text(then).first.wait_for(timeout=timeout_ms)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
