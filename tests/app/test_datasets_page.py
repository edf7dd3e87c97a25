"""The Datasets page through AppTest, on a job's result directory of real digit explanations (tests/batch_results.py):
a wrong folder is one sentence, the summaries are drawn, the filters pick and order, an item opens beside its
input and goes to the report, and a page switch loses nothing."""

import pytest

from explainers.batch import summary
from tests.batch_results import make_results


@pytest.fixture(scope="module")
def job(vit, tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return make_results(root / "out", root / "data", vit, per_class=2)


def open_page(at, path) -> None:
    at.switch_page("pages/datasets.py").run()
    assert not at.exception
    at.text_input(key="datasets_path").set_value(str(path)).run()
    at.button(key="datasets_open").click().run()
    assert not at.exception


def chart_keys(app) -> list[str]:
    return [chart.proto.id for chart in app.get("plotly_chart")]


def items(app):
    return next(d.value for d in app.dataframe if "path" in d.value.columns)


def test_a_folder_that_is_not_a_result_directory_is_one_sentence(at, tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "cache"))
    open_page(at, tmp_path)
    assert [e.value.replace("\\", "") for e in at.error] == [  # markdown's escapes aside
        f"{tmp_path} is not a Lumen result directory (it has no manifest.json)."]
    assert "Open a job's result directory" in at.info[0].value


def test_the_summaries_the_filters_and_an_item(at, job, tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "cache"))
    open_page(at, job)
    assert not at.error
    assert any("21 inputs × 2 methods (grad-cam, saliency) on **vit-digits** (image); 2 error rows"
               in m.value.replace("\\", "") for m in at.markdown)  # markdown's escapes aside
    keys = " ".join(chart_keys(at))
    assert "datasets_mean_maps" in keys and "datasets_distribution" in keys and "datasets_agreement" in keys
    table = items(at)
    assert len(table) == 21 and {"grad-cam · srg", "saliency · srg", "agreement"} <= set(table.columns)
    assert summary.recent_results()[0] == str(job)  # offered again next time

    at.selectbox(key="datasets_filter").set_value("worst headline figure").run()
    at.selectbox(key="datasets_filter_method").set_value("saliency").run()
    worst = items(at)
    assert len(worst) == 20 and worst["saliency · srg"].is_monotonic_increasing  # srg: higher is better, worst first
    at.selectbox(key="datasets_filter").set_value("errors").run()
    assert items(at)["path"].tolist() == ["3/broken.png"]
    at.selectbox(key="datasets_filter").set_value("worst headline figure").run()

    path = worst["path"].iloc[0]
    at.selectbox(key="datasets_item").set_value(path).run()
    assert not at.exception and not at.error
    keys = chart_keys(at)
    assert any(k.endswith(":grad-cam") and "datasets_view" in k for k in keys)
    assert any(k.endswith(":saliency") and "datasets_view" in k for k in keys)
    assert len(at.get("image")) == 1  # the input beside its maps
    before = len(at.session_state["report_items"]) if "report_items" in at.session_state else 0
    key = worst["input_id"].iloc[0]
    at.button(key=f"datasets_report:{key}").click().run()
    added = at.session_state["report_items"][before:]
    assert [i.explanation.method for i in added] == ["grad-cam", "saliency"]
    assert all(i.input_name == path and i.model.name == "vit-digits" and i.input.shape[:2] == i.explanation.scores.shape
               for i in added)
    assert added[1].metrics["srg"] == pytest.approx(worst["saliency · srg"].iloc[0])

    at.button(key="add_view:mean_maps:grad-cam:label").click().run()
    at.button(key="add_view:distribution:srg:box").click().run()
    views = at.session_state["report_views"]
    assert [(v.kind, v.title) for v in views] == [("mean_maps", "grad-cam: mean map per label"),
                                                  ("distribution", "srg per method")]
    assert views[0].names == [str(c) for c in range(10)] and views[0].counts == [2] * 10
    assert [a.size for a in views[1].arrays] == [20, 20]

    at.switch_page("pages/report.py").run()
    assert not at.exception and not at.error
    assert any("2 dataset views" in m.value for m in at.markdown)
    assert any(t.value.startswith("1. grad-cam: mean map per label") for t in at.text)
    at.switch_page("pages/datasets.py").run()  # nothing lost: the directory, the filter, the item
    assert not at.exception
    assert at.selectbox(key="datasets_filter").value == "worst headline figure"
    assert at.selectbox(key="datasets_item").value == path
    assert any("datasets_view" in k for k in chart_keys(at))


@pytest.mark.slow  # a dataset job on Ray, started from the page
def test_start_a_job_see_its_cost_cancel_it_and_open_what_it_wrote(at, tmp_path, monkeypatch):
    import time

    from pages import background_jobs

    import shutil

    from models.cache import cache_dir

    cache = tmp_path / "cache"  # the job's folder and the bundled digits here; the trained ViT copied, not retrained
    cache.mkdir()
    for trained in cache_dir().glob("vit-digits-*.safetensors"):
        shutil.copy(trained, cache / trained.name)
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(cache))
    at.switch_page("pages/datasets.py").run()
    at.radio(key="datasets_mode").set_value("Start a job").run()
    assert not at.exception and not at.error
    at.number_input(key="datasets_job_limit").set_value(300).run()
    estimate = next(c.value for c in at.caption if c.value.startswith("Estimated cost: 300 inputs × 1 method"))
    assert "forward" in estimate and "faithfulness" in estimate
    at.button(key="datasets_job_start").click().run()
    job = background_jobs.get(at.session_state["datasets_job"])
    assert job is not None and job.label == "vit-digits on digits"
    deadline = time.time() + 300
    while job.done == 0 and job.running and time.time() < deadline:
        time.sleep(0.5)
    at.run()
    assert job.running, "the job ended before it could be cancelled"
    at.button(key="datasets_job_cancel").click().run()
    job.thread.join(timeout=300)
    at.run()
    assert job.error is None and job.summary.cancelled and 0 < job.summary.done < 300
    assert any("was cancelled" in s.value for s in at.success)
    at.button(key="datasets_job_open").click().run()
    assert not at.exception
    table = items(at)
    assert len(table) == job.summary.done and table["grad-cam · srg"].notna().all()


@pytest.mark.slow  # a dataset job on Ray, on an uploaded ZIP
def test_a_job_on_an_uploaded_zip_of_images_with_class_folders(at, tmp_path, monkeypatch):
    import io
    import shutil
    import zipfile

    from PIL import Image

    from models.cache import cache_dir
    from models.embedded.digits_vit import digit_images
    from pages import background_jobs

    cache = tmp_path / "cache"
    cache.mkdir()
    for trained in cache_dir().glob("vit-digits-*.safetensors"):
        shutil.copy(trained, cache / trained.name)
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(cache))
    images, labels = digit_images("test")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(6):
            png = io.BytesIO()
            Image.fromarray(images[i]).save(png, "PNG")
            zf.writestr(f"{labels[i]}/digit-{i}.png", png.getvalue())
    at.switch_page("pages/datasets.py").run()
    at.radio(key="datasets_mode").set_value("Start a job").run()
    at.radio(key="datasets_job_source").set_value("An upload").run()
    assert any(i.value.startswith("Upload a dataset") for i in at.info)
    at.file_uploader(key="datasets_job_upload").upload("my digits.zip", buf.getvalue(), "application/zip").run()
    model = next(t for t in at.text_input if t.key.startswith("datasets_job_model:"))
    assert model.value == "efficientnet-lite0"  # the default image model; this ZIP is digits
    model.set_value("vit-digits").run()
    at.checkbox(key="datasets_job_figures").uncheck().run()
    assert any(c.value.startswith("Estimated cost: 6 inputs × 1 method") for c in at.caption)
    at.button(key="datasets_job_start").click().run()
    job = background_jobs.get(at.session_state["datasets_job"])
    assert job.label == "vit-digits on my digits.zip"
    job.thread.join(timeout=300)
    at.run()
    assert job.error is None and job.summary.done == 6, job.error
    at.button(key="datasets_job_open").click().run()
    table = items(at)
    assert sorted(table["label"]) == sorted(str(v) for v in labels[:6])  # the class folders gave the labels
    assert not [c for c in table.columns if " · " in c]  # no figures asked for


def test_a_table_job_shows_its_global_importance_and_a_rows_bars(at, tmp_path, monkeypatch):
    from models import load_model
    from tests.batch_results import make_table_results

    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "cache"))
    job = make_table_results(tmp_path / "out", tmp_path / "data", load_model("tabular:breast_cancer:random-forest"))
    open_page(at, job)
    assert not at.error
    keys = " ".join(chart_keys(at))
    assert "datasets_global" in keys and "datasets_mean_maps" not in keys
    table = items(at)
    assert len(table) == 20 and "shap-tree · srg" not in table.columns
    at.selectbox(key="datasets_item").set_value("breast_cancer.csv#row 3").run()
    assert not at.exception and not at.error
    assert any("datasets_view:" in k for k in chart_keys(at))  # the row's ranked bars
    row = next(d.value for d in at.dataframe if "feature" in d.value.columns)
    assert "mean radius" in set(row["feature"])  # the row itself, read from the job's CSV
