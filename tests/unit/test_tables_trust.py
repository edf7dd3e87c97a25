"""Tables a person can trust with their own CSV: the preview, the target guess, refusals, actual vs predicted, and
the beeswarm's and waterfall's labels (issue 17)."""

import numpy as np
import pandas as pd
import pytest

from explainers import explain
from explainers.tabular.shap_methods import explain_global
from models.adapters.tabular import train_model
from models.inputs.tables import guess_target, prepare_target, preview, read_csv, target_problems
from reports.figures import renderer
from reports.figures.shap_scatter import CATEGORY_COLOURS
from tests.tables_csv import ISLANDS, penguins_csv, weather_csv


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    frame, _ = read_csv(penguins_csv(tmp_path_factory.mktemp("csv")))
    return frame


@pytest.fixture(scope="module")
def weather(tmp_path_factory):
    frame, _ = read_csv(weather_csv(tmp_path_factory.mktemp("csv")))
    return frame


def test_preview_says_each_columns_type_missing_and_unique_counts(penguins, weather):
    p = preview(penguins).set_index("column")
    assert p.loc["species", "type"] == "categorical" and p.loc["species", "unique"] == 3
    assert p.loc["bill_length_mm", "type"] == "numeric"
    assert p.loc["bill_length_mm", "missing"] == penguins["bill_length_mm"].isna().sum() == 9  # rows 0, 17, ... 136
    assert p.loc["sex", "missing"] == 14 and p.loc["sex", "unique"] == 2
    w = preview(weather).set_index("column")
    assert w.loc["date", "type"] == "date" and w.loc["weather", "type"] == "categorical"
    assert w.loc["date", "unique"] == len(weather) and w.loc["temp_max", "missing"] == 0


def test_the_guess_reads_names_then_low_cardinality_categories(penguins, weather):
    assert guess_target(penguins)[0] == "species"  # the first column, found by its name
    assert guess_target(weather)[0] == "weather"
    renamed = penguins.rename(columns={"species": "kind"})
    column, why = guess_target(renamed[["bill_length_mm", "kind", "body_mass_g", "flipper_length_mm"]])
    assert column == "kind" and "categorical column with 3 values" in why  # not the last (numeric) column
    only_numbers = pd.DataFrame({"id": range(50), "x": np.linspace(0, 1, 50), "y2": np.linspace(3, 1, 50) ** 2})
    assert guess_target(only_numbers)[0] == "y2"


def test_bad_targets_get_a_sentence(penguins, weather):
    assert target_problems(penguins, "species") == ([], [])
    assert "holds dates" in target_problems(weather, "date")[1][0]
    ids = penguins.assign(row_id=range(len(penguins)))
    assert "identifier" in target_problems(ids, "row_id")[1][0]
    one = penguins.assign(colony="A")
    assert "only one value" in target_problems(one, "colony")[1][0]
    sparse = penguins.assign(tag=["x", "y"] * 10 + [None] * (len(penguins) - 20))
    assert "missing in 87%" in target_problems(sparse, "tag")[1][0]
    some = penguins.assign(tag=[None] * 45 + ["x", "y"] * ((len(penguins) - 45) // 2) + ["x"])
    warnings, refusals = target_problems(some, "tag")
    assert not refusals and "missing in 30%" in warnings[0]


def test_a_date_column_is_left_out_by_name(weather):
    dataset = prepare_target(weather, "weather")
    assert "date" not in dataset.features.columns and any("holds dates" in n for n in dataset.notes)


def test_actual_vs_predicted_for_a_classifier_and_a_regressor(penguins):
    dataset = prepare_target(penguins, "species")
    model = train_model(dataset, "random-forest", n_estimators=20)
    table = model.actual_vs_predicted(dataset.features, dataset.frame["species"])
    assert list(table.columns) == ["actual", "predicted", "probability", "p(actual)", "correct", "held out"]
    assert len(table) == len(dataset.frame) and table["held out"].sum() == len(model.held_out[0])
    assert (table["correct"] == (table["actual"] == table["predicted"])).all()
    assert np.all(table["probability"] >= table["p(actual)"] - 1e-12) and table["probability"].between(0, 1).all()
    row = dataset.features.iloc[[7]]
    assert table.loc[7, "probability"] == pytest.approx(model.predict(row).probs.max(), abs=1e-6)
    mass = prepare_target(penguins, "body_mass_g")
    reg = train_model(mass, "linear")
    t = reg.actual_vs_predicted(mass.features, mass.frame["body_mass_g"])
    assert list(t.columns) == ["actual", "predicted", "error", "held out"]
    assert np.allclose(t["error"], t["predicted"] - t["actual"])


def test_the_beeswarm_colours_categories_by_category_and_numbers_high_low(penguins):
    dataset = prepare_target(penguins, "species")
    model = train_model(dataset, "random-forest", n_estimators=20)
    e = explain_global(model, rows=60)
    fig = renderer("beeswarm").figure(e)
    island = [t for t in fig.data if t.legendgroup == "island"]
    assert sorted(t.name for t in island) == sorted(ISLANDS) and all(t.showlegend for t in island)
    assert {t.marker.color for t in island} <= set(CATEGORY_COLOURS)
    assert sum(len(t.x) for t in island) == len(e.extras["rows"]) == 38  # every held-out row once, in its colour
    numeric = [t for t in fig.data if not t.showlegend]
    assert {t.name for t in numeric} >= {"bill_length_mm", "flipper_length_mm"}
    assert sum(bool(t.marker.showscale) for t in numeric) == 1  # one high/low colour bar, for the numbers only
    assert list(numeric[0].marker.colorbar.ticktext) == ["low", "high"]
    sex = [t for t in fig.data if t.legendgroup == "sex"]
    assert "missing" in {t.name for t in sex}  # the rows without a value are a category of their own


def test_the_dependence_plot_colours_by_a_categorical_partner(penguins):
    dataset = prepare_target(penguins, "species")
    model = train_model(dataset, "random-forest", n_estimators=20)
    e = explain_global(model, rows=40)
    fig = renderer("dependence").figure(e, "bill_length_mm", "island")
    assert sorted(t.name for t in fig.data) == sorted(ISLANDS) and fig.layout.legend.title.text == "island"


def test_the_waterfall_reads_feature_equals_value_and_leaves_room_for_its_numbers(penguins):
    dataset = prepare_target(penguins, "species")
    model = train_model(dataset, "random-forest", n_estimators=20)
    row = dataset.features.iloc[0].to_dict()
    e = explain(model, row, method="shap-tree")
    d = renderer("waterfall").prepare(e, max_features=20)
    labels = [s.label for s in d.steps[1:-1]]
    assert f"island = {row['island']}" in labels
    assert "bill_length_mm = missing" in labels  # row 0 has no bill length
    assert f"body_mass_g = {row['body_mass_g']:.4g}" in labels
    fig = renderer("waterfall").plotly(d)
    assert fig.layout.yaxis.automargin and fig.data[0].cliponaxis is False
    ends = [v for s in d.steps for v in (s.start, s.end)]
    lo, hi = fig.layout.xaxis.range
    assert lo < min(ends + [0.0]) and hi > max(ends)  # room beyond the bars for the printed numbers


def test_a_long_feature_name_is_shortened_but_its_value_kept():
    from reports.figures.waterfall import MAX_LABEL, short_label

    long = "island_where_the_penguin_was_observed_by_the_field_team_in_the_antarctic = Torgersen"
    short = short_label(long)
    assert len(short) <= MAX_LABEL and short.endswith("… = Torgersen") and short.startswith("island_where")
    assert short_label("bill_length_mm = 49.5") == "bill_length_mm = 49.5"
    assert short_label("x" * 100, lambda t: len(t) <= 10) == "x" * 9 + "…"


def test_the_pdf_waterfall_keeps_each_rows_value(penguins):
    import io

    import pypdf

    from reports.pdf import to_pdf
    from reports.report import make_item, new_report

    frame = penguins.rename(columns={"island": "island_where_the_penguin_was_observed_by_the_field_team_" * 2})
    dataset = prepare_target(frame, "species")
    model = train_model(dataset, "random-forest", n_estimators=10)
    row = dataset.features.iloc[3].to_dict()
    item = make_item(model, row, explain(model, row, method="shap-tree"), input_name="penguins.csv row 3")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(to_pdf(new_report("r", [item])))).pages)
    waterfall = text[text.index("Waterfall"):]
    assert f"… = {row[next(c for c in row if c.startswith('island_'))]}" in waterfall
    assert f"body_mass_g = {row['body_mass_g']:.4g}" in waterfall
