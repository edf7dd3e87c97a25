"""The Tables page with a person's own CSV (issue 17): a preview, a guessed target trained on only after Train,
bad targets refused, categories in the beeswarm, the class a global view explains, actual vs predicted, rows picked
by error and confidence, and Compare on the same table and model."""

import json

from tests.tables_csv import penguins_csv, weather_csv


def captions(app) -> str:
    return "\n".join(c.value for c in app.caption)


def markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def chart(app, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in app.get("plotly_chart") if c.proto.id.endswith(key))


def upload(app, path):
    app.switch_page("pages/tabular.py").run()
    app.radio(key="tab_source").set_value("Upload CSV").run()
    app.file_uploader(key="tab_csv").set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not app.exception and not app.error
    return app


def preview_table(app):
    return next(d.value for d in app.dataframe if list(d.value.columns)[:3] == ["column", "type", "missing"])


def test_a_csv_is_previewed_and_its_guessed_target_trained_only_on_train(at, tmp_path):
    upload(at, penguins_csv(tmp_path))
    summary = preview_table(at).set_index("column")
    assert summary.loc["species", "type"] == "categorical" and summary.loc["bill_length_mm", "missing"] == 9
    assert summary.loc["sex", "missing"] == 14 and summary.loc["island", "unique"] == 3
    assert at.selectbox(key="tab_target").value == "species"  # the guess: the first column, by its name
    assert "Guessed target: **species**" in captions(at)
    assert "held-out" not in captions(at) and "Explainer" not in [s.label for s in at.selectbox]  # nothing trained
    at.button(key="tab_train").click().run()
    assert not at.exception and not at.error and "held-out accuracy" in captions(at)
    at.selectbox(key="tab_target").set_value("sex").run()  # another target: no silent retraining
    assert "You changed the target" in "\n".join(i.value for i in at.info)
    assert "held-out" not in captions(at) and "Explainer" not in [s.label for s in at.selectbox]
    at.button(key="tab_train").click().run()
    assert not at.error and "held-out accuracy" in captions(at) and "target 'sex' (classification" in captions(at)


def test_a_date_or_an_identifier_as_target_is_refused_with_a_sentence(at, tmp_path):
    upload(at, weather_csv(tmp_path))
    assert at.selectbox(key="tab_target").value == "weather"
    assert preview_table(at).set_index("column").loc["date", "type"] == "date"
    at.selectbox(key="tab_target").set_value("date").run()
    assert len(at.error) == 1 and "holds dates" in at.error[0].value
    assert not [b for b in at.button if b.key == "tab_train"]
    at.selectbox(key="tab_target").set_value("weather").run()
    assert not at.error and any("'date' holds dates" in i.value for i in at.info)  # left out of the features


def test_global_view_names_its_class_and_colours_categories(at, tmp_path):
    upload(at, penguins_csv(tmp_path))
    at.button(key="tab_train").click().run()
    at.button(key="run_global").click().run()
    assert not at.exception and not at.error
    text = captions(at)
    assert "the class predicted most often among these rows" in text
    e = at.session_state["tab_global"]["e"]
    assert f"Mean |SHAP| for class {e.target_label}" in json.dumps(chart(at, "tab_bar"))
    swarm = chart(at, "tab_beeswarm")
    assert f"SHAP values for class {e.target_label}" in json.dumps(swarm["layout"]["title"])
    island = [t for t in swarm["data"] if t.get("legendgroup") == "island"]
    assert sorted(t["name"] for t in island) == ["Biscoe", "Dream", "Torgersen"]
    classes = at.selectbox(key=next(s.key for s in at.selectbox if str(s.key).startswith("tab_class:")))
    other = next(i for i in classes.options if i not in ("the predicted class", e.target_label))
    classes.set_value(classes.options.index(other) - 1).run()  # options are indices; -1 is "the predicted class"
    at.button(key="run_global").click().run()
    assert f"**class {other}**" in captions(at) and "predicted most often" not in captions(at)


def test_rows_are_picked_by_error_and_confidence_and_shown_actual_vs_predicted(at, tmp_path):
    upload(at, penguins_csv(tmp_path))
    at.selectbox(key="tab_target").set_value("island").run()  # a harder target: some rows are wrong
    at.button(key="tab_train").click().run()
    table = at.session_state["tables_predictions"][1]
    wrong = table.index[~table["correct"]]
    assert len(wrong) > 0
    at.checkbox(key="tab_wrong").check().run()
    at.selectbox(key="tab_sort").set_value("lowest confidence first").run()
    pick = at.selectbox(key="tab_pick")
    assert set(pick.options) == {f"row {i}: " + pick.format_func(i).split(": ", 1)[1] for i in wrong}
    first = int(pick.options[0].split(":")[0].removeprefix("row "))
    assert table.loc[first, "probability"] == table.loc[wrong, "probability"].min()  # lowest confidence first
    pick.set_value(first).run()
    assert at.number_input(key="tab_row").value == first
    at.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not at.exception and not at.error
    line = next(m.value for m in at.markdown if m.value.startswith("**Actual**"))
    assert f"**Actual** {table.loc[first, 'actual']} (recorded in row {first})" in line
    assert f"**predicted** {table.loc[first, 'predicted']}" in line and line.endswith("wrong")


def test_compare_uses_the_tables_pages_csv_and_model(at, tmp_path):
    upload(at, penguins_csv(tmp_path))
    at.button(key="tab_train").click().run()
    model = at.session_state["tables_current"]["model"]
    at.switch_page("pages/compare.py").run()
    at.radio(key="compare_modality").set_value("Table row").run()
    assert not at.exception and not at.error
    assert at.toggle(key="row_use_tables").value and "penguins\\.csv" in at.toggle(key="row_use_tables").label
    at.number_input(key="row_index:" + at.session_state["tables_current"]["choice"].key).set_value(4).run()
    at.multiselect(key="compare_methods:tabular").set_value(["shap-tree"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    results = at.session_state["compare_results"][1]
    assert results[0].model == model.name and "bill_length_mm" in results[0].feature_names
    at.toggle(key="row_use_tables").set_value(False).run()  # or a table chosen here: a bundled one by default
    assert at.selectbox(key="row_dataset").value == "breast_cancer"


def test_compare_takes_its_own_csv_upload_trained_on_train(at, tmp_path):
    at.switch_page("pages/compare.py").run()
    at.radio(key="compare_modality").set_value("Table row").run()
    assert not [t for t in at.toggle if t.key == "row_use_tables"]  # no Tables page model in this session yet
    path = weather_csv(tmp_path)
    at.radio(key="row_source").set_value("Upload CSV").run()
    at.file_uploader(key="row_csv").set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error and at.selectbox(key="row_target").value == "weather"
    assert "compare_run" not in [b.key for b in at.button]  # nothing to compare before Train
    at.button(key="row_train").click().run()
    assert not at.exception and not at.error
    key = next(n.key for n in at.number_input if str(n.key).startswith("row_index:csv:"))
    at.number_input(key=key).set_value(7).run()
    at.multiselect(key="compare_methods:tabular").set_value(["shap-tree"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not at.error
    assert [e.method for e in at.session_state["compare_results"][1]] == ["shap-tree", "random"]
    assert at.session_state["compare_results"][0][2] == "seattle-weather.csv:7"  # the item's input: file and row
