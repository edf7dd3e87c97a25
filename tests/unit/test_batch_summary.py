"""Dataset-wide summaries (explainers/batch/summary.py) on a result directory of REAL explanations: held-out
digits explained by the embedded digits ViT with Grad-CAM and saliency (tests/batch_results.py)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from explainers import explain
from explainers.batch import summary
from explainers.batch.store import read_map
from models.errors import InputError
from models.inputs.images import decode_image
from tests.batch_results import BROKEN, make_results


@pytest.fixture(scope="module")
def job(vit, tmp_path_factory):
    root = tmp_path_factory.mktemp("job")
    return make_results(root / "out", root / "data", vit, per_class=2)


@pytest.fixture(scope="module")
def results(job):
    return summary.open_results(job)


def test_a_result_directory_opens_with_its_modality_methods_and_figures(results):
    assert results.modality == "image"
    assert results.methods == ["grad-cam", "saliency"]
    assert results.figures[0] == "srg" and "morf_auc" in results.figures
    assert results.headline == ("srg", "higher")
    assert len(results.rows) == 2 * 21 and len(results.ok) == 2 * 20  # 20 digits + one broken file, per method


def test_a_folder_that_is_not_a_result_directory_is_refused_with_a_sentence(tmp_path):
    with pytest.raises(InputError, match="not a Lumen result directory"):
        summary.open_results(tmp_path)
    with pytest.raises(InputError, match="There is no folder"):
        summary.open_results(tmp_path / "nowhere")


def _block_mean(m: np.ndarray, shape) -> np.ndarray:
    f = m.shape[0] // shape[0]
    return m.reshape(shape[0], f, shape[1], f).mean(axis=(1, 3)) if f > 1 else m


def test_per_class_mean_maps_put_every_map_on_one_grid_and_weigh_inputs_equally(results, job):
    means = summary.class_mean_maps(results, "grad-cam")
    assert list(means) == [str(c) for c in range(10)]
    rows = results.ok[results.ok["method"] == "grad-cam"]
    shapes = {read_map(job, r).shape for _, r in rows.iterrows()}
    assert shapes == {(8, 8), (16, 16)}  # two grids in the data: the most common one (8×8) is the mean's
    for label, cm in means.items():
        mine = rows[rows["label"] == label]
        assert cm.n == len(mine) == 2 and cm.mean.shape == (8, 8)
        expected = np.mean([_block_mean(m / np.abs(m).max(), (8, 8))
                            for m in (read_map(job, r) for _, r in mine.iterrows())], axis=0)
        np.testing.assert_allclose(cm.mean, expected, atol=1e-5)


def test_the_figure_distributions_hold_every_measured_value_per_method(results):
    values = summary.figure_values(results)
    assert set(values) == set(results.figures)
    for method in results.methods:
        column = results.rows.loc[results.rows["method"] == method, "faith_srg"]
        assert values["srg"][method].size == column.notna().sum() == 20
        assert sorted(values["srg"][method]) == pytest.approx(sorted(column.dropna()))


def test_agreement_per_item_is_the_rank_correlation_of_the_two_maps(results, job):
    agreement = summary.item_agreement(results)
    assert len(agreement) == 20 and "grad-cam / saliency" in agreement
    for _, a in agreement.head(4).iterrows():
        rows = results.ok[results.ok["input_id"] == a["input_id"]]
        maps = {r["method"]: read_map(job, r) for _, r in rows.iterrows()}
        rho = stats.spearmanr(np.abs(maps["grad-cam"]).ravel(), np.abs(maps["saliency"]).ravel()).statistic
        assert a["agreement"] == pytest.approx(rho) == pytest.approx(a["grad-cam / saliency"])
    pairs = summary.agreement_values(agreement)
    assert list(pairs) == ["grad-cam / saliency"] and pairs["grad-cam / saliency"].size == 20


def test_the_items_table_has_one_row_per_input_and_the_filters_pick_and_order_as_they_say(results):
    agreement = summary.item_agreement(results)
    table = summary.items_table(results, agreement)
    assert len(table) == 21 and table["input_id"].is_unique
    assert {"grad-cam · srg", "saliency · srg", "agreement", "confidence", "correct"} <= set(table.columns)
    assert set(summary.available_filters(results, table)) >= {"all items", "lowest confidence",
                                                              "worst headline figure", "most disagreement", "errors"}
    low = summary.filter_items(table, results, "lowest confidence", n=5)
    assert len(low) == 5 and low["confidence"].is_monotonic_increasing
    assert low["confidence"].iloc[-1] <= table["confidence"].dropna().nsmallest(5).max()
    worst = summary.filter_items(table, results, "worst headline figure", method="saliency")
    assert worst["saliency · srg"].is_monotonic_increasing and len(worst) == 20  # srg: higher is better
    assert summary.filter_label("worst headline figure", results) == "worst srg (lowest first)"
    wrong = summary.filter_items(table, results, "wrong predictions")
    assert (wrong["correct"] == False).all()  # noqa: E712
    assert len(wrong) == int((table["correct"] == False).sum())  # noqa: E712
    disagree = summary.filter_items(table, results, "most disagreement")
    assert disagree["agreement"].is_monotonic_increasing
    errors = summary.filter_items(table, results, "errors")
    assert errors["path"].tolist() == [BROKEN] and "not an image" in errors["error"].iloc[0]
    with pytest.raises(InputError, match="Unknown filter"):
        summary.filter_items(table, results, "best")


def test_an_item_gives_back_its_explanations_and_its_input(results, job, vit):
    row = results.ok.iloc[0]
    explanations = summary.item_explanations(results, row["input_id"])
    assert [e.method for e in explanations] == ["grad-cam", "saliency"]
    x = summary.read_input(results, row["path"])
    data = summary.data_source(results)
    assert np.array_equal(x, decode_image((data / row["path"]).read_bytes()))
    again = explain(vit, x, method="grad-cam")
    np.testing.assert_allclose(explanations[0].scores, again.scores, atol=1e-6)
    assert explanations[0].target == again.target and explanations[0].faithfulness["srg"] == pytest.approx(
        row["faith_srg"])
    assert explanations[0].scores.shape == x.shape[:2]


def test_an_input_whose_data_moved_is_refused_with_a_sentence(results, tmp_path):
    moved = summary.Results(results.out, {**results.manifest, "data": str(tmp_path / "gone")}, results.rows,
                            results.modality, results.methods, results.figures)
    with pytest.raises(InputError, match="no longer at"):
        summary.read_input(moved, "0/x.png")
    with pytest.raises(InputError, match="outside"):
        summary.read_input(results, "../../etc/passwd")


def test_recent_result_directories_are_remembered_newest_first(job, tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "cache"))
    other = tmp_path / "other"
    shutil.copytree(job, other)
    summary.remember_results(job)
    summary.remember_results(other)
    assert summary.recent_results()[:2] == [str(other), str(job)]
    shutil.rmtree(other)
    assert summary.recent_results() == [str(job)]  # a directory gone is no longer offered


def test_mean_map_grids_keep_the_common_shape_within_the_side():
    assert summary.grid_shape([(8, 8), (8, 8), (16, 16)]) == (8, 8)
    assert summary.grid_shape([(480, 640)] * 2, side=64) == (48, 64)
    grid = summary.resample(np.arange(16, dtype=np.float32).reshape(4, 4), (2, 2))
    np.testing.assert_allclose(grid, [[2.5, 4.5], [10.5, 12.5]])
    big = summary.resample(np.ones((2, 2), np.float32), (4, 4))
    assert big.shape == (4, 4) and np.allclose(big, 1)



@pytest.fixture(scope="module")
def table_job(tmp_path_factory):
    from models import load_model
    from tests.batch_results import make_table_results

    root = tmp_path_factory.mktemp("table")
    model = load_model("tabular:breast_cancer:random-forest")
    return make_table_results(root / "out", root / "data", model), model


def test_global_shap_of_a_table_job_is_the_mean_magnitude_of_the_rows_scores(table_job):
    job, model = table_job
    r = summary.open_results(job)
    assert r.modality == "tabular" and r.headline is None  # no faithfulness figures in this job
    names, values, n = summary.global_shap(r, "shap-tree")
    scores = np.stack([read_map(job, row) for _, row in r.ok.iterrows()])
    assert n == 20 and names == list(model.feature_names)
    np.testing.assert_allclose(values, np.abs(scores).mean(axis=0), rtol=1e-6)
    row = summary.read_input(r, "breast_cancer.csv#row 3")
    assert row["mean radius"] == pytest.approx(float(pd.read_csv(summary.data_source(r))["mean radius"].iloc[2]))
    e = summary.item_explanations(r, r.ok.iloc[0]["input_id"])[0]
    assert e.feature_names == names and e.scores.shape == (30,)
    with pytest.raises(InputError, match="no row 21"):
        summary.read_input(r, "breast_cancer.csv#row 21")


@pytest.mark.slow  # the embedded sentiment model on real tweets
def test_top_tokens_per_class_count_each_texts_highest_tokens(tmp_path):
    from models import load_model
    from tests.batch_results import make_text_results

    model = load_model("minilm-sentiment")
    job = make_text_results(tmp_path / "out", tmp_path / "data", model, n=8)
    r = summary.open_results(job)
    assert r.modality == "text"
    tops = summary.top_tokens(r, "occlusion", per_text=2)
    assert set(tops) == {"negative", "positive"}
    expected: dict[str, dict[str, int]] = {}
    for _, row in r.ok.iterrows():
        tokens, m = json.loads(row["tokens"]), read_map(job, row)
        order = [j for j in np.argsort(-m, kind="stable") if tokens[j] not in ("[CLS]", "[SEP]")][:2]
        for t in {tokens[j].lower().removeprefix("##") for j in order}:
            expected.setdefault(row["label"], {}).setdefault(t, 0)
            expected[row["label"]][t] += 1
    for label, found in tops.items():
        assert {t: c for t, c, _ in found} == dict(sorted(expected[label].items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        assert all(share == pytest.approx(c / 4) for _, c, share in found)  # 4 texts per class
    text = summary.read_input(r, "tweets.csv#row 2")
    assert text == pd.read_csv(summary.data_source(r))["text"].iloc[1]


def test_a_jobs_cost_is_each_methods_passes_and_the_figures_times_the_inputs(vit):
    from explainers.core.cost import estimate_passes
    from explainers.core.modality import faithfulness_passes
    from models.embedded.digits_vit import digit_images

    x = digit_images("test")[0][0]
    methods = {"grad-cam": {}, "rise": {"n_masks": 100}}
    e = summary.job_estimate(vit, x, methods, 300)
    one = {m: estimate_passes(vit, m, p) for m, p in methods.items()}
    figures = faithfulness_passes(vit, x)
    assert e.passes == (300 * (sum(f for f, _ in one.values()) + 2 * figures), 300 * sum(b for _, b in one.values()))
    assert e.seconds > 0 and "300 inputs × 2 methods" in e.sentence("cpu")
    bare = summary.job_estimate(vit, x, methods, 300, faithfulness=False)
    assert bare.passes[0] == 300 * sum(f for f, _ in one.values()) and bare.seconds < e.seconds
