"""Feature responsiveness (explainers/tabular/responsiveness.py) on hand-made models with known answers.

The models are rules over named columns (scikit-learn's interface: classes_, predict, predict_proba), wrapped in
the real ``TabularModel``, so every candidate row goes through the real engine and the real schema decoding.
"""

import numpy as np
import pandas as pd
import pytest

from explainers import explain, get_method
from explainers.tabular.responsiveness import (METHOD, actions_from_table, candidates, default_table, parse_actions,
                                               reasons, wilson)
from models.adapters.tabular import TabularModel
from models.errors import InputError
from models.inputs.tables import TableSchema


class Rule:
    """A classifier whose positive class is ``rule(frame)``; it records every frame it is shown."""

    classes_ = np.array([0, 1])

    def __init__(self, rule):
        self.rule, self.seen = rule, []

    def predict_proba(self, frame):
        self.seen.append(frame.copy())
        p = np.asarray(self.rule(frame), dtype=float)
        return np.stack([1 - p, p], axis=1)

    def predict(self, frame):
        return self.predict_proba(frame).argmax(axis=1)


class Regressor:
    def predict(self, frame):
        return frame["x"].to_numpy(float) * 2.0


def background():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.integers(0, 11, 200).astype(float), "z": rng.integers(0, 11, 200).astype(float),
                         "age": rng.integers(20, 80, 200).astype(float),
                         "colour": rng.choice(["red", "green", "blue"], 200)})


def model(rule):
    bg = background()
    return TabularModel("rule", Rule(rule), TableSchema.from_frame(bg), "y", "classification", bg)


THRESHOLD = lambda f: (f["x"] >= 7) | (f["age"] >= 65) | (f["colour"] == "blue")  # noqa: E731
ROW = {"x": 2.0, "z": 0.0, "age": 40.0, "colour": "red"}
GRID = {"lower": 0, "upper": 10, "step": 1}


def resp(m, row=ROW, **params):
    return explain(m, row, method="responsiveness", **params)


def score(e, feature):
    return float(e.scores[e.feature_names.index(feature)])


def test_threshold_score_is_the_share_of_allowed_values_past_it_and_immutable_scores_zero():
    m = model(THRESHOLD)
    e = resp(m, actions={"x": {**GRID, "direction": "both"}, "age": {"immutable": True}})
    # allowed x other than 2: 0, 1, 3..10 (10 values); 7, 8, 9, 10 flip the decision
    assert score(e, "x") == pytest.approx(4 / 10)
    assert score(e, "age") == 0 and score(e, "colour") == 0 and score(e, "z") == 0  # unnamed: immutable
    assert e.extras["exact"][0] and tuple(e.extras["ci"][0]) == pytest.approx((0.4, 0.4))
    assert e.extras["n"].tolist() == [10, 0, 0, 0] and e.n_forward == 1 + 10  # the row, then each candidate
    assert e.extras["fixed"] is False and e.extras["examples"]["x"]["value"] == 7  # the smallest change that flips
    assert e.target_label == "0" and e.extras["goal"] == "class 1"


def test_direction_up_and_down_are_respected():
    m = model(THRESHOLD)
    up = resp(m, actions={"x": {**GRID, "direction": "up"}})
    assert score(up, "x") == pytest.approx(4 / 8) and up.extras["n"][0] == 8  # 3..10
    down = resp(m, actions={"x": {**GRID, "direction": "down"}})
    assert score(down, "x") == 0 and down.extras["n"][0] == 2 and down.extras["fixed"] is True  # 0, 1
    seen = np.concatenate([f["x"].to_numpy() for f in m.estimator.seen])
    assert set(np.unique(seen)) <= set(range(11))


def test_categories_stay_categories_and_integer_steps_give_whole_numbers():
    m = model(THRESHOLD)
    m.estimator.seen.clear()
    e = resp(m, actions={"colour": {"immutable": False}, "z": {"direction": "both"}, "age": {"lower": 20, "upper": 30}})
    assert score(e, "colour") == pytest.approx(1 / 2)  # green, blue: blue flips
    assert e.extras["examples"]["colour"] == {"value": "blue", "prediction": "1"}
    frames = pd.concat(m.estimator.seen)
    assert set(frames["colour"]) <= {"red", "green", "blue"}
    z = frames["z"].to_numpy()
    assert np.all(z == np.round(z)) and set(z) == set(range(11))  # whole numbers by default: step 1 over 0..10
    assert parse_actions(m, {"z": {"immutable": False}})["z"].step == 1
    assert score(e, "age") == 0 and e.extras["n"][2] == 11  # 20..30 without 40: none reaches 65


def test_a_row_no_action_can_flip_is_fixed_and_pairs_can_unfix_it():
    both = model(lambda f: (f["x"] >= 7) & (f["z"] >= 7))
    actions = {"x": {**GRID, "direction": "up"}, "z": {**GRID, "direction": "up"}}
    single = resp(both, actions=actions)
    assert single.extras["fixed"] is True and float(single.scores.sum()) == 0
    paired = resp(both, actions=actions, pairs=True)
    assert paired.extras["fixed"] is False and paired.extras["pairs_checked"] == 1
    example = paired.extras["pair_examples"]["x + z"]
    assert example["x"] >= 7 and example["z"] >= 7
    nothing = resp(model(THRESHOLD), actions={"x": {"lower": 0, "upper": 5, "step": 1}})
    assert nothing.extras["fixed"] is True and nothing.extras["n"][0] == 5
    assert resp(model(THRESHOLD)).extras["fixed"] is True  # nothing actionable unless said: fixed, one model row


@pytest.mark.parametrize("seed", range(10))
def test_sampling_interval_covers_the_exact_value(seed):
    m = model(THRESHOLD)
    sampled = resp(m, actions={"x": {**GRID}}, max_exact=5, samples=400, seed=seed, confidence=0.99)
    low, high = sampled.extras["ci"][0]
    assert not sampled.extras["exact"][0] and sampled.extras["n"][0] == 400
    assert low <= 0.4 <= high and high - low < 0.2
    continuous = resp(m, actions={"x": {"lower": 0.5, "upper": 10.5}}, samples=400, seed=seed, confidence=0.99)
    low, high = continuous.extras["ci"][0]
    assert low <= 3.5 / 10 <= high  # uniform on [0.5, 10.5]: P(x >= 7) = 0.35


def test_wilson_interval_known_values():
    assert wilson(0, 0, 0.95) == (0.0, 0.0)
    low, high = wilson(50, 100, 0.95)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)


def test_desired_class_and_regression_threshold():
    m = model(THRESHOLD)
    e = resp(m, actions={"x": GRID}, desired="1")
    assert score(e, "x") == pytest.approx(0.4)
    with pytest.raises(InputError, match="already predicted"):
        resp(m, actions={"x": GRID}, desired="0")
    bg = background()
    reg = TabularModel("double", Regressor(), TableSchema.from_frame(bg), "y", "regression", bg)
    r = resp(reg, actions={"x": GRID}, threshold=15.0)  # 2x >= 15: x in 8, 9, 10 of the 10 others
    assert score(r, "x") == pytest.approx(3 / 10)
    with pytest.raises(InputError, match="threshold"):
        resp(reg, actions={"x": GRID})


@pytest.mark.parametrize("actions, words", [
    ({"height": {"immutable": True}}, "does not have: 'height'"),
    ({"colour": {"lower": 0, "upper": 1}}, "is a category"),
    ({"colour": {"values": ["purple"]}}, "no category 'purple'"),
    ({"x": {"lower": 5, "upper": 1}}, "lower (5) is above upper (1)"),
    ({"x": {"direction": "sideways"}}, "direction must be one of"),
    ({"x": {"step": 0}}, "step must be above 0"),
    ({"x": {"values": [1], "lower": 0}}, "both values and lower"),
    ({"x": {"speed": 1}}, "unknown keys: speed"),
    ({"x": "up"}, "must be a dict"),
    ({"x": {"values": []}}, "allows no values"),
])
def test_bad_action_sets_are_refused_with_a_sentence(actions, words):
    with pytest.raises(InputError) as caught:
        resp(model(THRESHOLD), actions=actions)
    assert words in str(caught.value)


def test_cost_bounds_the_passes_and_candidates_respect_max_exact():
    m = model(THRESHOLD)
    spec = get_method("responsiveness", "tabular")
    actions = {"x": GRID, "colour": {"values": ["green", "blue"]}}
    assert spec.estimate({"actions": actions}, m)[0] == 1 + 11 + 2
    e = resp(m, actions=actions)
    assert e.n_forward <= 1 + 11 + 2 and e.n_forward == 1 + 10 + 2  # the row's own values are not tried
    big = parse_actions(m, {"x": {"lower": 0, "upper": 1e9, "step": 1}})["x"]
    c = candidates(big, 2.0, 50, 1000, np.random.default_rng(0))
    assert not c.exact and len(c.values) == 50 and np.all(c.values != 2.0) and c.population == 1e9


def test_editor_table_defaults_nothing_actionable_and_round_trips():
    m = model(THRESHOLD)
    table = default_table(m)
    assert set(table["action"]) == {"immutable"} and actions_from_table(m, table) == {}
    x = table.index[table["feature"] == "x"][0]
    assert table.loc[x, "type"] == "whole number" and table.loc[x, "step"] == 1
    assert (table.loc[x, "lower"], table.loc[x, "upper"]) == (0, 10)
    colour = table.index[table["feature"] == "colour"][0]
    assert table.loc[colour, "type"] == "category" and table.loc[colour, "values"] == "blue, green, red"
    table.loc[x, "action"] = "up"
    table.loc[colour, ["action", "values"]] = ["values", "green, blue"]
    actions = actions_from_table(m, table)
    assert actions == {"x": {"direction": "up", "lower": 0.0, "upper": 10.0, "step": 1.0},
                       "colour": {"values": ["green", "blue"]}}
    table["step"] = table["step"].astype(object)
    table.loc[x, "step"] = "fast"
    with pytest.raises(InputError, match="'x': step must be a number"):
        actions_from_table(m, table)


def test_reasons_mark_shap_features_a_person_cannot_act_on():
    m = model(THRESHOLD)
    row = {"x": 2.0, "z": 0.0, "age": 70.0, "colour": "red"}  # predicted 1 because of age
    r = resp(m, row, actions={"x": GRID, "colour": {"immutable": False}})
    s = explain(m, row, method="shap-permutation", background=20, permutations=2)
    table = reasons(s, r, k=2)
    first = table.iloc[0]
    assert first["SHAP reason"] == "age" and first["can the person act on it?"] == "unresponsive: immutable"
    assert r.extras["fixed"] is True  # lowering x or changing colour cannot undo age >= 65


def test_the_chart_exports_to_html_pdf_and_bundle_with_the_fixed_flag_said():
    import io
    import zipfile

    import pypdf

    from reports.bundle import read_bundle, write_bundle
    from reports.html import to_html
    from reports.pdf import to_pdf
    from reports.report import make_item, new_report
    from reports.views import views

    m = model(THRESHOLD)
    e = resp(m, actions={"x": GRID, "colour": {"values": ["green"]}})
    item = make_item(m, ROW, e)
    kinds = [v.kind for v in views(item)]
    assert "responsiveness" in kinds
    chart = next(v for v in views(item) if v.kind == "responsiveness").data
    assert [en.status for en in chart.entries[:2]] == ["responsive", "unresponsive"]
    assert chart.entries[0].text == "0.40 (all 10 values)" and "Not fixed: 1 feature alone" in chart.title
    report = new_report("r", [item])
    assert "Not fixed: 1 feature alone can reach class 1" in to_html(report)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(to_pdf(report))).pages)
    assert "Responsiveness" in text
    bundle = write_bundle(report)
    names = zipfile.ZipFile(io.BytesIO(bundle)).namelist()
    assert any("responsiveness" in n and n.endswith(".png") for n in names), names
    back = read_bundle(bundle).items[0].explanation
    assert back.extras["fixed"] is False and back.extras["examples"]["x"]["value"] == 7
    assert np.allclose(back.scores, e.scores) and back.params["actions"]["x"] == GRID
    fixed = resp(m, actions={"x": {"lower": 0, "upper": 5, "step": 1}})
    assert "Fixed prediction: no single allowed change reaches class 1" in renderer_title(fixed)


def renderer_title(e):
    from reports.figures import renderer

    return renderer("responsiveness").prepare(e).title


def test_the_command_line_takes_an_action_set_as_json():
    import cli

    params = cli.method_params(["responsiveness"], ['responsiveness.actions={"x": {"lower": 0, "upper": 10}}',
                                                    "responsiveness.pairs=true"])
    assert params == {"responsiveness": {"actions": {"x": {"lower": 0, "upper": 10}}, "pairs": True}}
    with pytest.raises(cli.UsageError, match="not valid JSON"):
        cli.method_params(["responsiveness"], ['responsiveness.actions={"x": '])


def test_runs_through_the_engine_progress_and_cancel():
    import threading

    from explainers.core.engine import Cancelled

    m = model(THRESHOLD)
    reports = []
    e = resp(m, actions={"x": GRID, "z": GRID}, progress=lambda done, total: reports.append((done, total)))
    assert e.n_forward == 1 + 10 + 10  # the row's own x and z are not tried
    assert reports[-1] == (23, 23)  # the estimate (at most: 1 + 11 + 11) is the progress's total, reached at the end
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        resp(m, actions={"x": GRID}, cancel=cancel)


def test_the_chart_forms_show_the_same_values_and_colours():
    import io

    from PIL import Image

    from reports.figures import renderer
    from reports.figures.base import css
    from reports.figures.responsiveness import IMMUTABLE, RESPONSIVE

    m = model(THRESHOLD)
    e = resp(m, actions={"x": GRID, "z": {"lower": 0.5, "upper": 10.5}})
    r = renderer("responsiveness")
    d = r.prepare(e)
    fig = r.plotly(d)
    bars = fig.data[0]
    assert list(bars.y) == [en.feature for en in d.entries] == ["x", "z", "age", "colour"]
    assert bars.x[0] == pytest.approx(0.4) and list(bars.marker.color)[0] == css(RESPONSIVE)
    assert list(bars.marker.color)[2:] == [css(IMMUTABLE)] * 2
    interval = fig.data[1]  # only z was sampled: its Wilson interval
    assert list(interval.y) == ["z"] and interval.error_x.array[0] == pytest.approx(d.entries[1].high - d.entries[1].score)
    pixels = np.asarray(Image.open(io.BytesIO(r.png(d))).convert("RGB")).reshape(-1, 3)
    assert (np.abs(pixels - np.array(RESPONSIVE)).sum(axis=1) == 0).sum() > 100  # x's bar, in the same blue


def test_pages_compare_and_dataset_jobs_do_not_offer_it_as_an_explainer():
    """Responsiveness needs an action set and says what a person could change, not what drove the prediction:
    Compare (with no action set every feature would score 0 and every row read "fixed") and the explainer lists
    leave it out; the Tables page gives it a place of its own."""
    from explainers import methods_for
    from models.adapters.tabular import train_model
    from models.inputs.tables import load_dataset

    model = train_model(load_dataset("iris"), "linear")
    assert METHOD not in [m.id for m in methods_for(model)]
    assert METHOD in [m.id for m in methods_for(model, own_place=True)]
