"""CSV reading: real files written to disk, one per edge case; each failure is one readable sentence."""

import io

import numpy as np
import pandas as pd
import pytest

from models.errors import InputError
from models.inputs.tables import TableSchema, load_dataset, prepare_target, read_csv


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_delimiters_and_types_are_inferred(tmp_path):
    text = "age;city;income\n34;Paris;1200.5\n51;Lyon;980\n29;Paris;\n"
    frame, notes = read_csv(write(tmp_path, "semi.csv", text.encode()))
    assert list(frame.columns) == ["age", "city", "income"]
    assert frame["age"].dtype == float and frame["income"].dtype == float
    assert frame["city"].tolist() == ["Paris", "Lyon", "Paris"]
    assert np.isnan(frame["income"].iloc[2]) and notes == []
    tabbed, _ = read_csv(write(tmp_path, "tab.tsv", text.replace(";", "\t").encode()))
    assert tabbed.equals(frame)


def test_utf8_with_bom_reads_without_note(tmp_path):
    frame, notes = read_csv(write(tmp_path, "bom.csv", "\ufeffnom,ville\n1,Zürich\n2,Genève\n".encode("utf-8")))
    assert list(frame.columns) == ["nom", "ville"] and notes == []
    assert frame["ville"].tolist() == ["Zürich", "Genève"]


def test_windows_1252_is_read_with_a_note(tmp_path):
    frame, notes = read_csv(write(tmp_path, "cp.csv", "x,ville\n1,Genève\n2,Zürich €\n".encode("cp1252")))
    assert frame["ville"].tolist() == ["Genève", "Zürich €"]
    assert len(notes) == 1 and "not UTF-8" in notes[0] and "Windows-1252" in notes[0]


def test_mixed_encodings_fall_back_and_say_so(tmp_path):
    data = "x,ville\n1,Genève\n".encode("utf-8") + "2,Zürich\n".encode("cp1252")  # two encodings in one file
    frame, notes = read_csv(write(tmp_path, "mixed.csv", data))
    assert len(frame) == 2 and frame["ville"].iloc[1] == "Zürich"
    assert "not UTF-8" in notes[0]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"a,b,c\n", "header but no data rows"),
        (b"only\n1\n2\n3\n", "only one column"),
    ],
    ids=["empty", "blank", "header-only", "one-column"],
)
def test_unusable_files_are_refused_with_a_sentence(tmp_path, data, message):
    with pytest.raises(InputError, match=message):
        read_csv(write(tmp_path, "bad.csv", data))


def test_garbage_in_a_numeric_column_is_counted_and_treated_as_missing(tmp_path):
    rows = [f"{i},{i * 1.5},{'a' if i % 2 else 'b'}" for i in range(40)]
    rows[3] = "3,#REF!,a"
    rows[7] = "7,n/a?,a"
    frame, notes = read_csv(write(tmp_path, "garbage.csv", ("x,y,label\n" + "\n".join(rows)).encode()))
    assert frame["y"].dtype == float and frame["y"].isna().sum() == 2
    assert notes == ["Column 'y': 2 values that are not numbers were treated as missing."]


def test_mostly_text_column_stays_categorical(tmp_path):
    frame, notes = read_csv(write(tmp_path, "cat.csv", b"size,colour\n1,red\n2,blue\n3,7\n4,green\n"))
    assert frame["colour"].tolist() == ["red", "blue", "7", "green"] and notes == []


def test_a_million_rows_are_sampled_with_a_message(tmp_path):
    n = 1_000_000
    body = "\n".join(f"{i},{i % 3}" for i in range(n))
    frame, notes = read_csv(write(tmp_path, "big.csv", ("x,y\n" + body).encode()), max_rows=50_000)
    assert len(frame) == 50_000 and frame["x"].nunique() == 50_000
    assert "1,000,000 rows" in notes[0] and "50,000" in notes[0]


def test_target_with_one_class_is_refused(tmp_path):
    frame, _ = read_csv(write(tmp_path, "one.csv", b"x,label\n1,yes\n2,yes\n3,yes\n"))
    with pytest.raises(InputError, match="only one value"):
        prepare_target(frame, "label")


def test_task_is_inferred_from_the_target(tmp_path):
    frame, _ = read_csv(write(tmp_path, "t.csv", ("a,b,c\n" + "\n".join(f"{i},{i % 3},{i * 0.37}" for i in range(60))).encode()))
    assert prepare_target(frame, "b").task == "classification"
    assert prepare_target(frame, "c").task == "regression"
    assert prepare_target(frame, "b").frame["b"].iloc[:3].tolist() == ["0", "1", "2"]


def test_identifier_columns_are_left_out_with_a_note(tmp_path):
    body = "\n".join(f"id-{i},{i},{i % 2}" for i in range(200))
    frame, _ = read_csv(write(tmp_path, "ids.csv", ("id,x,y\n" + body).encode()))
    data = prepare_target(frame, "y")
    assert "id" not in data.frame.columns and "identifier" in data.notes[0]


def test_schema_names_missing_columns_and_round_trips():
    data = load_dataset("tips")
    schema = TableSchema.from_frame(data.features)
    with pytest.raises(InputError, match="lacks 2 columns the model needs: 'day', 'size'"):
        schema.check(data.features.drop(columns=["day", "size"]))
    encoded = schema.encode(data.features)
    assert np.array_equal(schema.encode(schema.decode(encoded)), encoded, equal_nan=True)
    assert schema.decode(encoded)["day"].tolist() == data.features["day"].tolist()


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "iris", "diabetes", "tips"])
def test_bundled_datasets_load_offline(name):
    data = load_dataset(name)
    assert data.target in data.frame and data.features.shape[1] >= 4 and len(data.frame) >= 150


# ---------------------------------------------------------------- CSV export: formula cells (OWASP CSV injection)


def test_the_ranked_csv_neutralises_formula_cells_and_keeps_numbers():
    import csv as csv_module

    from explainers.core.explanation import Explanation
    from explainers.tabular.shap_methods import ranked
    from reports.csv_export import csv_bytes

    names = ['=HYPERLINK("x")', "@SUM(A1)", "+1", "-cmd", "\tx", "\rx", "plain"]
    e = Explanation(np.array([0.75, -0.5, 0.375, -0.25, 0.125, -0.0625, -0.03125]), "shap-tree", "tabular", "tiny", 0, "y",
                    feature_names=names, extras={"row": np.array([1.0, 0.0, -2.5, 3.0, 4.0, 5.0, 1.0]),
                                                 "categories": {"@SUM(A1)": ["=1+1", "b"], "plain": ["a", "-b"]}})
    rows = list(csv_module.reader(io.StringIO(csv_bytes(ranked(e)).decode("utf-8"), newline="")))
    assert rows[0] == ["feature", "value", "score"]
    cells = {row[0]: row for row in rows[1:]}
    assert cells["'=HYPERLINK(\"x\")"][1:] == ["1.0", "0.75"]  # the formula cell starts with '
    for name in names[1:6]:
        assert "'" + name in cells, (name, list(cells))
    assert cells["'@SUM(A1)"][1:] == ["'=1+1", "-0.5"]  # a formula category is neutralised, a negative score is not
    assert cells["'+1"][1:] == ["-2.5", "0.375"]  # a negative number stays a number
    assert cells["plain"][1:] == ["'-b", "-0.03125"]


def test_csv_headers_are_neutralised_too():
    from reports.csv_export import csv_bytes

    frame = pd.DataFrame({"=cmd()": [-1.0, 2.0], "ok": ["=x", "y"]})
    assert csv_bytes(frame).decode("utf-8").splitlines() == ["'=cmd(),ok", "-1.0,'=x", "2.0,y"]


def test_infinite_values_are_treated_as_missing_with_a_note_naming_the_column(tmp_path):
    """'inf' used to reach the model and end as "Something went wrong (ValueError)"; now it is missing, and said."""
    from models.adapters.tabular import train_model

    rows = "".join(f"{i % 7 + 0.5},{i % 3},{'ab'[i % 2]}\n" for i in range(40))
    text = "size,count,label\ninf,1,a\n-Infinity,2,b\n3,1e999,a\n" + rows
    frame, notes = read_csv(write(tmp_path, "inf.csv", text.encode()))
    assert "Column 'size': 2 infinite values were treated as missing." in notes
    assert "Column 'count': 1 infinite value was treated as missing." in notes
    assert frame["size"].isna().sum() == 2 and np.isfinite(frame["size"].dropna()).all()
    for kind in ("linear", "random-forest"):
        model = train_model(prepare_target(frame, "label"), kind)
        assert model.predict(frame.drop(columns="label").iloc[[0]]).probs.shape == (2,)
