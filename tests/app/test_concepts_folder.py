"""The Concepts page's folder source: CRAFT over a folder of images as a dataset job on a real Ray, run by a thread of
the server, its result shown as the page's."""

import time

import pytest
from PIL import Image

from models.inputs.samples import IMAGE_SAMPLES, sample_views

pytestmark = pytest.mark.slow

FAST = {"param:craft:n_concepts": 3, "param:craft:nb_design": 4, "param:craft:patch_size": 112}


def test_a_folder_job_runs_craft_on_ray_and_shows_its_concepts(at, tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "cats"
    folder.mkdir()
    for i, view in enumerate(sample_views(next(iter(IMAGE_SAMPLES)), 6)):
        Image.fromarray(view).save(folder / f"cat{i}.png")
    (folder / "readme.txt").write_text("not an image")
    at.switch_page("pages/concepts.py").run()
    at.radio(key="concept_source").set_value("A folder (a dataset job on Ray)").run()
    assert not at.exception
    at.text_input(key="concept_folder").set_value(str(folder)).run()
    captions = "\n".join(c.value for c in at.caption)
    assert "6 images (1 files left out" in captions and "Estimated cost:" in captions
    for key, value in FAST.items():
        at.number_input(key=key).set_value(value)
    at.run()
    at.button(key="concept_folder_run").click().run()
    assert not at.exception and not at.error
    from pages import background_jobs

    job = background_jobs.running_job()
    deadline = time.monotonic() + 600  # a bound on a hung job, not a timing: the test asserts what it shows
    while job is not None and job.running and time.monotonic() < deadline:
        time.sleep(1)
    assert job is None or job.error is None, job.error
    at.run()
    at.run()  # the fragment saw the finished job and asked for a whole run
    assert not at.exception and not at.error
    captions = "\n".join(c.value for c in at.caption)
    assert "craft for **" in captions and "16 crops" not in captions and "24 crops" in captions  # 6 images × 4
    charts = " ".join(chart.proto.id for chart in at.get("plotly_chart"))
    for key in ("concept_importance", "concept_maps", "concept_clusters"):
        assert key in charts
    at.selectbox(key="concept_image").set_value(4).run()  # one image of the folder read when it is shown
    assert not at.exception and "concept_maps" in " ".join(c.proto.id for c in at.get("plotly_chart"))
