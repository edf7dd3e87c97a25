"""The dataset-wide summaries on what the runner writes: real jobs on Ray (digits through vit-digits, breast_cancer
through a bundled random forest) read back by explainers.batch.summary: the same inputs, maps and figures."""

import numpy as np
import pytest

from explainers import explain
from explainers.batch import summary
from explainers.batch.reader import data_path
from explainers.batch.store import read_map
from models.inputs.images import decode_image

N = 30


@pytest.fixture(scope="module")
def digits_job(ray_local, tmp_path_factory):
    from explainers.batch.job import run_job

    out = tmp_path_factory.mktemp("digits")
    run_job("digits", model="vit-digits", methods={"grad-cam": {}, "saliency": {}}, out=out, limit=N, workers=1)
    return out


def test_a_runner_job_opens_with_its_summaries_and_items(digits_job, vit):
    r = summary.open_results(digits_job)
    facts = summary.overview(r)
    assert (facts["inputs"], facts["methods"], facts["modality"], facts["model"]) == (
        N, ["grad-cam", "saliency"], "image", "vit-digits")
    assert r.headline == ("srg", "higher") and facts["labelled"] == N
    means = summary.class_mean_maps(r, "grad-cam")
    assert sum(m.n for m in means.values()) == N and all(m.mean.shape == (8, 8) for m in means.values())
    table = summary.items_table(r, summary.item_agreement(r))
    assert len(table) == N and table["agreement"].notna().sum() == N
    worst = summary.filter_items(table, r, "worst headline figure", "saliency", n=3)
    assert worst["saliency · srg"].is_monotonic_increasing
    row = worst.iloc[0]
    x = summary.read_input(r, row["path"])
    assert np.array_equal(x, decode_image((data_path("digits") / row["path"]).read_bytes()))
    explanations = summary.item_explanations(r, row["input_id"])
    assert [e.method for e in explanations] == ["grad-cam", "saliency"]
    stored = r.ok[(r.ok["input_id"] == row["input_id"]) & (r.ok["method"] == "saliency")].iloc[0]
    np.testing.assert_array_equal(explanations[1].scores, read_map(digits_job, stored))
    np.testing.assert_allclose(explanations[1].scores, explain(vit, x, method="saliency").scores, atol=1e-5)
    assert explanations[1].faithfulness["srg"] == pytest.approx(row["saliency · srg"])


def test_a_runner_table_job_gives_its_global_importance_and_rows(ray_local, tmp_path):
    from explainers.batch.job import run_job

    run_job("breast_cancer", model="tabular:breast_cancer:random-forest", methods={"shap-tree": {}}, out=tmp_path,
            limit=20, workers=1)
    r = summary.open_results(tmp_path)
    assert r.modality == "tabular"
    names, values, n = summary.global_shap(r, "shap-tree")
    assert n == 20 and names == r.manifest["feature_names"] and len(names) == 30
    scores = np.stack([read_map(tmp_path, row) for _, row in r.ok.iterrows()])
    np.testing.assert_allclose(values, np.abs(scores).mean(axis=0), rtol=1e-6)
    row = summary.read_input(r, r.ok.iloc[0]["path"])
    assert isinstance(row, dict) and "mean radius" in row
