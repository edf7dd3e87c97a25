"""The tabular modality: one row (or several) of a table as a pandas data frame with the model's columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from explainers.core.modality import Modality, register_modality
from models.errors import InputError


def prepare(x, model=None) -> pd.DataFrame:
    """A row (a Series or a dict of column values) or rows (a data frame) as a data frame."""
    if isinstance(x, pd.Series):
        return x.to_frame().T
    if isinstance(x, dict):
        return pd.DataFrame([x])
    if isinstance(x, pd.DataFrame):
        if x.empty:
            raise InputError("No rows to explain.")
        return x
    raise InputError("A table row must be a pandas Series, a dict of column values, or a data frame.")


def sizes(model, frame, target=None, params=None) -> dict[str, int]:
    return {"n_rows": len(frame)}


def faithfulness(model, row, e) -> dict:
    from explainers.metrics.tabular import tabular_deletion

    return tabular_deletion(model, row, e)


def faithfulness_passes(model, sizes) -> int:
    from explainers.metrics.tabular import tabular_deletion_passes

    return tabular_deletion_passes(model)


def read_csv_rows(path: Path, model, note=None) -> list[tuple[str, dict]]:
    """The rows of a CSV file with the model's feature columns; ``note`` hears what was repaired."""
    from models.inputs.tables import read_csv

    if path.is_dir():
        raise InputError(f"{path} is a folder; give a CSV file")
    frame, notes = read_csv(path.read_bytes())
    for sentence in notes:
        if note is not None:
            note(sentence)
    frame = model.rows(frame)  # the model's columns, or a sentence naming the missing ones
    return [(f"row {i + 1}", row.to_dict()) for i, row in frame.iterrows()]


def read_items(path: Path, model, note=None) -> list:
    """A dataset job's rows: a CSV or Parquet file with the model's feature columns; its target column, when there,
    gives the labels. Each row's key is its features' canonical JSON."""
    from explainers.batch.reader import canonical_row, item, read_frame

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path.name} is a folder; a table job reads a CSV or Parquet file")
    frame, notes = read_frame(path)
    for sentence in notes:
        if note is not None:
            note(sentence)
    target = getattr(model, "target", None)
    labels = frame[target] if target in frame.columns else None
    features = model.rows(frame)  # the model's columns, or a sentence naming the missing ones
    items = []
    for i, row in enumerate(features.to_dict(orient="records")):
        truth = None if labels is None else labels.iat[i]
        truth = None if truth is None or truth != truth else truth
        items.append(item(f"{path.name}#row {i + 1}", truth, canonical_row(row)))
    return items


def load_item(data: bytes, model):
    """A row's canonical JSON as a one-row frame of the model's columns."""
    import json

    return model.rows(json.loads(data.decode("utf-8")))


TABULAR = register_modality(Modality(
    id="tabular",
    label="Table row",
    prepare=prepare,
    sizes=sizes,
    # exact SHAP where the model allows it (a tree ensemble, a linear model), else the permutation estimate
    default_methods=("shap-tree", "shap-linear", "shap-permutation"),
    faithfulness=faithfulness,
    faithfulness_passes=faithfulness_passes,
    better={"deletion_auc": "lower"},
    figures=("ranked_bars", "waterfall", "responsiveness", "interaction_heatmap", "faithfulness_curves",
             "agreement_matrix"),
    read_path=read_csv_rows,
    read_items=read_items,
    load_item=load_item,
))
