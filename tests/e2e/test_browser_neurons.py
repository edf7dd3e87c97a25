"""End to end: the Neurons page in a real headless Chromium — SmolLM2's neurons (decoded, then searched by a word)
and EfficientNet-Lite0's channels. ``LUMEN_SCREENSHOTS``: a folder to keep the pages' screenshots in."""

import os
from pathlib import Path

from tests.e2e.picks import choose


def shot(page, name: str, element=None) -> None:
    """The page (or ``element``, scrolled to: Streamlit's full-page screenshot does not scroll) into
    ``LUMEN_SCREENSHOTS``, when set."""
    folder = os.environ.get("LUMEN_SCREENSHOTS")
    if folder and element is not None:
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(Path(folder) / f"{name}.png"))
    elif folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_smollm2_neurons_are_decoded_and_searched_by_a_word(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.set_default_timeout(300_000)
    page.goto(f"{server}/neurons")
    page.get_by_role("heading", name="Neurons").wait_for()
    page.get_by_text("Language model", exact=True).click()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Next token explained:").wait_for()
    said = page.locator('[data-testid="stMarkdownContainer"]', has_text="Next token explained:").first.inner_text()
    assert "' Paris'" in said, said
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    page.locator('[data-testid="stPlotlyChart"]').first.locator(".main-svg").first.wait_for()
    shot(page, "neurons-lm")
    box = page.get_by_label("Neurons whose decoded tokens contain the word")
    box.fill("city")
    box.press("Enter")
    page.get_by_role("button", name="Search neurons", exact=True).click()
    found = page.locator('[data-testid="stDataFrame"]').nth(1)
    found.wait_for()
    shot(page, "neurons-lm-search", found)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("No neuron has a token").count() == 0
    page.close()


def test_efficientnet_channels_are_shown(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.set_default_timeout(300_000)
    page.goto(f"{server}/neurons")
    page.get_by_role("heading", name="Neurons").wait_for()
    page.get_by_text("Image classifier", exact=True).click()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Top channels' activation maps").wait_for()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for k in range(3):  # the weighted map, the channel bars, the channel maps
        charts.nth(k).locator(".main-svg").first.wait_for()
    assert "bn2 #" in page.locator('[data-testid="stPlotlyChart"]').nth(1).inner_text()
    charts.nth(2).scroll_into_view_if_needed()
    shot(page, "neurons-cnn")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_digits_vit_neuron_path_is_found_and_its_ablation_shown(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.set_default_timeout(300_000)
    page.goto(f"{server}/neurons")
    page.get_by_role("heading", name="Neurons").wait_for()
    page.get_by_text("Image classifier", exact=True).click()
    choose(page, "Image model", "Tiny ViT on 8×8 handwritten digits", then="Influential neuron path")
    choose(page, "Sample image", "digit 3 (for vit-digits)", then="Influential neuron path")
    section = page.get_by_role("heading", name="Influential neuron path").locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]")
    section.get_by_role("button", name="Run").click()
    page.get_by_text("Where each path neuron fires on the input").wait_for()
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.last.locator(".main-svg").first.wait_for()
    assert charts.count() >= 2  # the path neurons' maps and the ablation figure
    charts.last.scroll_into_view_if_needed()
    shot(page, "neurons-vit-path")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
