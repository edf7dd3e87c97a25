"""Tables in: bundled datasets and CSV files, read into a pandas frame with readable errors.

``read_csv`` infers the delimiter, the encoding and the column types; every repair it
makes (another encoding, values that are not numbers, a sample of a huge file) comes
back as a note for the page to show. ``TableSchema`` turns a frame into the numeric
matrix the SHAP explainers mask (categories as integer codes) and back.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.errors import InputError, reason, shown

MAX_ROWS = 100_000  # a larger table is sampled down to this many rows (with a note)
NUMERIC_SHARE = 0.9  # a column is numeric when at least this share of its filled cells are numbers
MAX_CATEGORIES = 50  # a text column with more distinct values than this (and mostly unique) is an identifier
MAX_CLASSES = 20  # an integer target with at most this many values is a class label


@dataclass
class Dataset:
    """A table with its target column and task ("classification" or "regression")."""

    name: str
    frame: pd.DataFrame
    target: str
    task: str
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.drop(columns=[self.target])


def _sklearn(loader, target: str, task: str, name: str) -> Dataset:
    bunch = loader(as_frame=True)
    frame = bunch.frame.drop(columns=["target"])
    y = bunch.target.to_numpy()
    frame[target] = np.asarray(bunch.target_names)[y] if task == "classification" else y  # class names, not codes
    return Dataset(name, frame, target, task)


def _tips() -> Dataset:
    import plotly.data

    frame = plotly.data.tips()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(object)
    return Dataset("tips", frame, "tip", "regression")


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    return _sklearn(load_breast_cancer, "diagnosis", "classification", "breast_cancer")


def _wine():
    from sklearn.datasets import load_wine

    return _sklearn(load_wine, "cultivar", "classification", "wine")


def _iris():
    from sklearn.datasets import load_iris

    return _sklearn(load_iris, "species", "classification", "iris")


def _diabetes():
    from sklearn.datasets import load_diabetes

    return _sklearn(load_diabetes, "progression", "regression", "diabetes")


DATASETS = {
    "breast_cancer": (_breast_cancer, "Breast cancer (569 rows, 30 numeric features; malignant or benign)"),
    "wine": (_wine, "Wine (178 rows, 13 features; 3 cultivars)"),
    "iris": (_iris, "Iris (150 rows, 4 features; 3 species)"),
    "diabetes": (_diabetes, "Diabetes (442 rows, 10 features; disease progression, regression)"),
    "tips": (_tips, "Restaurant tips (244 rows, numeric and categorical features; tip amount, regression)"),
}


def load_dataset(name: str) -> Dataset:
    """A bundled dataset (offline): one of ``DATASETS``."""
    if name not in DATASETS:
        raise InputError(f"Unknown dataset '{name}'. Bundled: {', '.join(DATASETS)}.")
    return DATASETS[name][0]()


# --- CSV ---------------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str | None]:
    for encoding in ("utf-8-sig",):  # plain UTF-8, with or without a byte-order mark
        try:
            return data.decode(encoding), None
        except UnicodeDecodeError:
            pass
    for encoding, title in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            return data.decode(encoding), (
                f"The file is not UTF-8; it was read as {title}. Check that accented characters look right."
            )
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _delimiter(text: str) -> str:
    sample = "\n".join(text[:65536].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_csv(source, max_rows: int = MAX_ROWS, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """A CSV (path, bytes or file object) as a frame, with notes on every repair made.

    Raises ``InputError`` for an empty file, a header without rows, or a single column.
    """
    if hasattr(source, "read"):
        data = source.read()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        with open(source, "rb") as f:
            data = f.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data.strip():
        raise InputError("The CSV file is empty.")
    text, note = _decode(data)
    notes = [note] if note else []
    sep = _delimiter(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise InputError("The CSV file is empty.") from None
    except pd.errors.ParserError as e:
        raise InputError(f"The file could not be read as CSV ({reason(e)}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] < 2:
        raise InputError(
            "The table has only one column; it needs at least one feature and a target "
            "(columns separated by commas, semicolons, tabs or |)."
        )
    if len(frame) == 0:
        raise InputError("The CSV file has a header but no data rows.")
    frame = frame.dropna(axis=1, how="all")
    if len(frame) > max_rows:
        notes.append(f"The table has {len(frame):,} rows; a random sample of {max_rows:,} rows is used.")
        frame = frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)
    return _infer_types(frame, notes), notes


def _infer_types(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Text cells to numbers where a column is (nearly) all numbers; the rest stay categories."""
    out = {}
    for column in frame.columns:
        raw = frame[column].astype(object).where(frame[column].notna(), None)
        raw = raw.map(lambda v: v.strip() if isinstance(v, str) else v).replace({"": None})
        filled = raw.notna().sum()
        numbers = pd.to_numeric(raw, errors="coerce")
        n_numbers = int(numbers.notna().sum())
        if filled and n_numbers >= NUMERIC_SHARE * filled:
            bad = int(filled - n_numbers)
            if bad:
                what = "values that are not numbers were" if bad > 1 else "value that is not a number was"
                notes.append(f"Column {shown(column)}: {bad} {what} treated as missing.")
            numbers = numbers.astype(float)
            infinite = np.isinf(numbers.to_numpy())
            if infinite.any():  # "inf", "-Infinity", "1e999": no model trains on them
                k = int(infinite.sum())
                notes.append(f"Column {shown(column)}: {k} infinite value{'s were' if k > 1 else ' was'} "
                             "treated as missing.")
                numbers = numbers.mask(infinite)
            out[column] = numbers
        else:
            out[column] = raw.astype(object).where(raw.notna(), np.nan)
    return pd.DataFrame(out)


def prepare_target(frame: pd.DataFrame, target: str, name: str = "upload", notes=None) -> Dataset:
    """Check the chosen target column and infer the task; drop identifier-like text columns."""
    notes = list(notes or [])
    if target not in frame.columns:
        raise InputError(f"There is no column {shown(target)} in the table.")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if frame.empty:
        raise InputError(f"The target column {shown(target)} is empty.")
    y = frame[target]
    numeric = pd.api.types.is_numeric_dtype(y)
    n_values = y.nunique()
    if n_values < 2:
        raise InputError(
            f"The target column {shown(target)} has only one value ({shown(y.iloc[0])}); a model needs at least two classes."
        )
    integral = numeric and bool(np.all(np.mod(y.to_numpy(float), 1) == 0))
    task = "classification" if not numeric or (integral and n_values <= MAX_CLASSES) else "regression"
    if task == "classification":
        frame[target] = y.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    for column in list(frame.columns):
        if column == target or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        distinct = frame[column].nunique()
        if distinct > MAX_CATEGORIES and _looks_like_dates(frame[column]):
            notes.append(f"Column {shown(column)} holds dates ({distinct} different ones) and is left out: as "
                         "categories, dates the model has not seen would mean nothing to it.")
            frame = frame.drop(columns=[column])
        elif distinct > MAX_CATEGORIES and distinct > 0.5 * len(frame):
            notes.append(f"Column {shown(column)} looks like an identifier ({distinct} distinct texts) and is left out.")
            frame = frame.drop(columns=[column])
    if frame.shape[1] < 2:
        raise InputError("No feature columns are left besides the target.")
    return Dataset(name, frame, target, task, notes)


# --- the numeric view that SHAP masks ---------------------------------------------------------------


@dataclass
class TableSchema:
    """The model's feature columns: numbers stay numbers, categories become integer codes.

    ``encode(frame)`` gives the float matrix the model-agnostic explainers mask
    (an unknown or missing category is NaN, like a missing number); ``decode`` turns
    such a matrix back into a frame (codes rounded to the nearest category).
    """

    features: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "TableSchema":
        categories = {}
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column]):
                categories[column] = sorted({str(v) for v in frame[column].dropna()})
        return cls([str(c) for c in frame.columns], categories)

    def check(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of ``frame`` in the model's order, or an InputError naming what is missing."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            names = ", ".join(shown(c) for c in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise InputError(f"The data lacks {len(missing)} column{'s' if len(missing) > 1 else ''} the model needs: {names}.")
        out = frame[self.features].copy()
        for column in self.features:
            if column in self.categories:
                out[column] = out[column].map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
                out[column] = out[column].astype(object)
            else:
                values = pd.to_numeric(out[column], errors="coerce")
                bad = int(values.isna().sum() - out[column].isna().sum())
                if bad:
                    raise InputError(f"Column {shown(column)} must hold numbers; {bad} value{'s' if bad > 1 else ''} do not.")
                out[column] = values.astype(float)
        return out

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        frame = self.check(frame)
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, column in enumerate(self.features):
            if column in self.categories:
                lookup = {c: i for i, c in enumerate(self.categories[column])}
                out[:, j] = [lookup.get(v, np.nan) if isinstance(v, str) else np.nan for v in frame[column]]
            else:
                out[:, j] = frame[column].to_numpy(float)
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        matrix = np.asarray(matrix, dtype=np.float64).reshape(-1, len(self.features))
        columns = {}
        for j, column in enumerate(self.features):
            values = matrix[:, j]
            if column in self.categories:
                names = np.asarray(self.categories[column] or [""], dtype=object)
                codes = np.clip(np.rint(np.nan_to_num(values, nan=0)), 0, len(names) - 1).astype(int)
                decoded = names[codes]
                decoded[np.isnan(values)] = np.nan
                columns[column] = decoded
            else:
                columns[column] = values
        return pd.DataFrame(columns)


# --- before training: what the table holds, which column to predict ----------------------------------

DATE_SHARE = 0.9  # a text column is a date when at least this share of its filled cells read as dates
TEXT_WORDS = 4  # a text column whose cells average this many words or more is free text, not a category
MISSING_TARGET_WARN = 0.2  # a target missing in more than this share of rows gets a sentence
MISSING_TARGET_REFUSE = 0.5  # ... and more than this share is refused
TARGET_NAMES = ("target", "label", "labels", "class", "classes", "y", "outcome", "response", "species", "weather",
                "diagnosis", "survived", "churn", "category", "result", "grade", "quality", "default")
_DATE_HINT = r"\d{1,4}[-/.:]\d{1,2}"  # digits, a separator, digits: what a written date looks like


def _looks_like_dates(values: pd.Series) -> bool:
    filled = values.dropna().astype(str)
    if filled.empty or not filled.str.contains(_DATE_HINT).mean() >= DATE_SHARE:
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": then every cell is parsed on its own
        parsed = pd.to_datetime(filled, errors="coerce")
    return bool(parsed.notna().mean() >= DATE_SHARE)


def column_kind(values: pd.Series) -> str:
    """What a column of a table read by ``read_csv`` holds: "numeric", "date", "text" (free text or an
    identifier: mostly unique strings) or "categorical"."""
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    filled = values.dropna()
    if filled.empty:
        return "categorical"
    if _looks_like_dates(filled):
        return "date"
    distinct = filled.nunique()
    words = filled.astype(str).str.split().str.len().mean()
    if words >= TEXT_WORDS or (distinct > MAX_CATEGORIES and distinct > 0.5 * len(values)):
        return "text"
    return "categorical"


def preview(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column: its kind (``column_kind``), how many cells are missing, how many distinct values it has,
    and an example value — what a person checks before choosing the target."""
    rows = []
    for column in frame.columns:
        values = frame[column]
        filled = values.dropna()
        rows.append({"column": str(column), "type": column_kind(values), "missing": int(values.isna().sum()),
                     "missing %": round(100.0 * values.isna().mean(), 1), "unique": int(filled.nunique()),
                     "example": "" if filled.empty else f"{filled.iloc[0]:.6g}" if column_kind(values) == "numeric"
                     else str(filled.iloc[0])})
    return pd.DataFrame(rows)


def _name_key(column) -> str:
    return "".join(ch for ch in str(column).lower() if ch.isalnum())


def guess_target(frame: pd.DataFrame) -> tuple[str, str]:
    """The column a model should most likely predict, and why (a sentence), without training anything:

    1. a column named like a target (``TARGET_NAMES``: target, label, class, species, weather, ...);
    2. else the last categorical column with 2 to ``MAX_CLASSES`` values (a class label, often last);
    3. else the last numeric column that is not an identifier (a value to regress on);
    4. else the last column.
    """
    keys = {_name_key(c): c for c in frame.columns}
    for name in TARGET_NAMES:
        if name in keys and not target_problems(frame, keys[name])[1]:
            return keys[name], f"its name, {shown(keys[name])}, reads like what a model predicts"
    kinds = {c: column_kind(frame[c]) for c in frame.columns}
    for column in reversed(frame.columns):
        n = frame[column].nunique()
        if kinds[column] == "categorical" and 2 <= n <= MAX_CLASSES and not target_problems(frame, column)[1]:
            return column, f"it is a categorical column with {n} values (a class to predict)"
    for column in reversed(frame.columns):
        if kinds[column] == "numeric" and not target_problems(frame, column)[1]:
            return column, "it is the last numeric column (a value to predict)"
    return frame.columns[-1], "it is the last column"


def target_problems(frame: pd.DataFrame, target: str) -> tuple[list[str], list[str]]:
    """(warnings, refusals) about ``target`` as the column to predict, each a sentence; training is refused when
    there is a refusal: a column with one value, an identifier (a different value in every row), a date or free
    text, or a target missing in most rows."""
    warnings, refusals = [], []
    if target not in frame.columns:
        return warnings, [f"There is no column {shown(target)} in the table."]
    values = frame[target]
    filled = values.dropna()
    missing = 1.0 - len(filled) / max(len(values), 1)
    if filled.empty:
        return warnings, [f"The column {shown(target)} is empty."]
    n = filled.nunique()
    kind = column_kind(values)
    if n < 2:
        refusals.append(f"The column {shown(target)} has only one value ({shown(filled.iloc[0])}); a model needs at "
                        "least two classes to tell apart.")
    elif kind == "date":
        refusals.append(f"The column {shown(target)} holds dates; choose what is to be predicted, not when it was "
                        "recorded.")
    elif kind == "text":
        refusals.append(f"The column {shown(target)} holds free text or identifiers ({n:,} different values in "
                        f"{len(filled):,} rows); choose a column with classes or numbers.")
    elif kind == "numeric" and n == len(filled) > MAX_CLASSES and bool(np.all(np.mod(filled.to_numpy(float), 1) == 0)) \
            and (filled.is_monotonic_increasing or _name_key(target) in ("id", "index", "rowid", "key")):
        refusals.append(f"The column {shown(target)} numbers the rows (a different whole number in every row); it is "
                        "an identifier, not something to predict.")
    if missing > MISSING_TARGET_REFUSE:
        refusals.append(f"The column {shown(target)} is missing in {missing:.0%} of the rows; too few rows would be "
                        "left to train on.")
    elif missing > MISSING_TARGET_WARN:
        warnings.append(f"The column {shown(target)} is missing in {missing:.0%} of the rows; those rows are left "
                        "out.")
    if kind == "categorical" and n > MAX_CLASSES:
        warnings.append(f"The column {shown(target)} has {n} classes; with many classes each has few rows to learn "
                        "from.")
    return warnings, refusals
