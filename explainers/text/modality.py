"""The text-classification modality: a text, cleaned and tokenised once into the model's ``Encoding``."""

from __future__ import annotations

from pathlib import Path

from explainers.core.modality import FigureOption, Modality, register_modality
from explainers.metrics import text as metrics
from models.errors import InputError
from models.inputs.texts import clean_text


def prepare(x, model):
    """The text as ``model`` reads it: cleaned and tokenised (an ``Encoding``, given back as it is)."""
    if getattr(model, "encode", None) is None:
        return clean_text(x)
    return model.encode(x)


def sizes(model, enc, target=None, params=None) -> dict[str, int]:
    """The text's content tokens, and the passes shap's Partition explainer makes on it when its budget does not
    stop it first (``shap_full_evals``; left out when shap cannot tell)."""
    out = {"n_tokens": len(enc.content)}
    try:
        from explainers.text.methods import shap_full_evals

        out["shap_evals"] = shap_full_evals(model, enc)
    except Exception:  # noqa: BLE001 - a tokenizer shap's masker cannot use: the budget bounds the estimate
        pass
    return out


def faithfulness(model, enc, e, removal="delete") -> dict:
    """Comprehensiveness and sufficiency (DeYoung et al. 2020) with ERASER's bins, the tokens deleted from the
    sequence (``removal="delete"``) or hidden from attention (``"attention-mask"``)."""
    return metrics.text_faithfulness(model, enc, e, removal=removal)


def faithfulness_many(model, enc, explanations, removal="delete") -> list[dict]:
    return metrics.text_faithfulness_many(model, enc, explanations, removal=removal)


def faithfulness_passes(model, sizes, removal="delete") -> int:
    return metrics.text_faithfulness_passes()


FAITHFULNESS_OPTIONS = {
    "removal": FigureOption(
        "Take the top tokens away by", "delete", metrics.REMOVALS,
        "delete: remove them from the sequence, as DeYoung et al. (ERASER, 2020) define comprehensiveness and "
        "sufficiency; attention-mask: keep them in place but hidden from attention, the very perturbation occlusion, "
        "LIME and SHAP use, so it favours them."),
}


def read_lines(path: Path, model=None, note=None) -> list[tuple[str, str]]:
    """A text file's non-empty lines, one input each."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a text file (one input per line) or a CSV")
    lines = [line for line in clean_text(path.read_bytes()).splitlines() if line.strip()]
    return [(f"line {i + 1}", line) for i, line in enumerate(lines)]


def read_items(path: Path, model, note=None) -> list:
    """A dataset job's texts: a .txt file's non-empty lines, or a CSV / Parquet file's text column (named text,
    sentence, review, tweet, content or document) with its label column (label, sentiment, class, target, y)
    when there is one; ``note`` hears which columns were read."""
    from explainers.batch.reader import (LABEL_COLUMNS, TABLE_TYPES, TEXT_COLUMNS, bounded_bytes, error_item, item,
                                         pick_column, read_frame)

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path.name} is a folder; a text job reads a .txt file (one text a line), a CSV or Parquet file")
    if path.suffix.lower().lstrip(".") not in TABLE_TYPES:  # one text a line, named by its line in the file
        lines = clean_text(bounded_bytes(path)).splitlines()
        return [item(f"{path.name}#line {i + 1}", None, line.encode("utf-8")) for i, line in enumerate(lines)
                if line.strip()]
    frame, notes = read_frame(path)
    text = pick_column(frame, None, TEXT_COLUMNS, "text", required=True)
    label = pick_column(frame, None, LABEL_COLUMNS, "label", required=False)
    for sentence in [*notes, f"The texts are read from column '{text}'"
                     + (f", their labels from column '{label}'." if label is not None else " (no label column).")]:
        if note is not None:
            note(sentence)
    items = []
    for i in range(len(frame)):
        value, truth = frame[text].iat[i], None if label is None else frame[label].iat[i]
        truth = None if truth is None or truth != truth else truth
        where = f"{path.name}#row {i + 1}"
        if not isinstance(value, str) or not value.strip():
            items.append(error_item(where, truth, "The row has no text."))
        else:
            items.append(item(where, truth, value.encode("utf-8")))
    return items


def load_item(data: bytes, model):
    """A text's UTF-8 bytes as the model reads it (cleaned, tokenised)."""
    return prepare(data, model)


TEXT = register_modality(Modality(
    id="text",
    label="Text",
    prepare=prepare,
    sizes=sizes,
    default_methods=("integrated-gradients", "occlusion"),
    faithfulness=faithfulness,
    faithfulness_options=FAITHFULNESS_OPTIONS,
    faithfulness_many=faithfulness_many,
    faithfulness_passes=faithfulness_passes,
    better={"aopc_comprehensiveness": "higher", "aopc_sufficiency": "lower"},
    figures=("token_highlight", "ranked_bars", "agreement_matrix"),
    read_path=read_lines,
    read_items=read_items,
    load_item=load_item,
))
