"""Four people on one server at once: four browser contexts (separate sessions) upload different
images and run Grad-CAM together; each sees the explanation of its own image."""

from models.inputs.samples import sample_image
from tests.e2e.conftest import upload_image

SAMPLES = ["chelsea (cat)", "coffee", "astronaut", "rocket"]


def test_four_sessions_at_once_each_get_their_own_result(server, browser, cnn, tmp_path):
    expected, pages, contexts = {}, [], []
    for i, name in enumerate(SAMPLES):
        image = sample_image(name)
        expected[i] = cnn.predict(image).top(1)[0][1]  # the label its own explanation must name
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        page.set_default_timeout(180_000)
        upload_image(page, server, image, tmp_path / f"upload{i}.png")
        contexts.append(context)
        pages.append(page)
    assert len(set(expected.values())) == len(SAMPLES)  # four different answers, so a mix-up shows
    for page in pages:  # all four runs are in flight before any result is read
        page.get_by_role("button", name="Run").click()
    for i, page in enumerate(pages):
        title = page.get_by_text("grad-cam for")
        title.wait_for()
        assert expected[i] in title.inner_text(), (SAMPLES[i], title.inner_text())
        page.locator('[data-testid="stPlotlyChart"] .heatmaplayer').first.wait_for(state="attached")
        assert page.locator('[data-testid="stException"]').count() == 0
    for context in contexts:
        context.close()
