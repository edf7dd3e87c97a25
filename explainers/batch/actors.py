"""What one of Ray's workers does with a batch of a dataset job's items: explain them, measure them, return rows.

``explain_items`` is the work, plain Python (tests call it without Ray); ``ExplainActor`` is the Ray Data callable
class around it: it loads the model once, then turns each batch of items into rows (``store.ROW_COLUMNS`` plus one
``faith_<figure>`` column per faithfulness figure) and score maps, which travel back to the driver to be written.

Per batch: every item is decoded and prepared once (its modality spec), predicted once, explained by each method
through ``explain_batch`` (several inputs per pass where the method can), and its explanations measured together
(``faithfulness_many``, the same figures the pages show). An item that cannot be read or explained becomes an error
row with its sentence; the batch goes on.
"""

from __future__ import annotations

import io
import json
import os
import socket

import numpy as np

from explainers.batch.reader import Item, load_item
from explainers.batch.store import FAITH_PREFIX
from models.errors import LumenError


def _sentence(err: BaseException) -> str:
    if isinstance(err, LumenError):
        return str(err)
    return f"The run failed: {type(err).__name__}: {err}"  # a bug's message, kept so that the row says what happened


def _cancelled(err: BaseException) -> bool:
    return type(err).__name__ == "Cancelled"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def params_json(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))


def explain_items(model, items: list[Item], pending: list[list[str]], methods: dict[str, dict],
                  options: dict | None) -> list[tuple[str, dict, np.ndarray | None]]:
    """(method, row, scores) for each item × each of its ``pending`` methods, in item order; ``methods``: {method:
    params}; ``options``: the faithfulness figures' options, None for no figures. Rows of unreadable or
    unexplainable items carry their sentence in ``error`` and no scores."""
    from explainers import explain, explain_batch, get_modality
    from explainers.core.modality import faithfulness_many
    from reports.report import has_prediction

    spec = get_modality(model.modality)
    worker = worker_name()
    base: list[dict] = []
    ready: dict[int, tuple] = {}  # item index -> (prepared input, prediction)
    failed: dict[int, str] = {}
    for i, entry in enumerate(items):
        base.append({"input_id": entry.input_id, "path": entry.path, "label": entry.label, "worker": worker})
        try:
            x = load_item(model, entry)
            prepared = spec.prepare(x, model)
            prediction = model.predict(prepared) if has_prediction(model, prepared) else None
            ready[i] = (prepared, prediction)
        except Exception as err:  # noqa: BLE001 - one unreadable input is one error row
            if _cancelled(err):
                raise
            failed[i] = _sentence(err)
    explained: dict[tuple[int, str], object] = {}
    for method, params in methods.items():
        todo = [i for i in ready if method in pending[i]]
        if not todo:
            continue
        try:
            found = explain_batch(model, [ready[i][0] for i in todo], method, **params)
        except Exception as err:  # noqa: BLE001 - one bad input fails the batch: per input, to find which
            if _cancelled(err):
                raise
            found = []
            for i in todo:
                try:
                    found.append(explain(model, ready[i][0], method=method, **params))
                except Exception as one:  # noqa: BLE001
                    if _cancelled(one):
                        raise
                    found.append(one)
        for i, e in zip(todo, found):
            explained[(i, method)] = e
    figures_failed: dict[int, str] = {}
    if options is not None:
        for i in ready:
            mine = [e for (j, _), e in explained.items() if j == i and not isinstance(e, Exception)]
            try:
                faithfulness_many(model, ready[i][0], mine, **options)
            except Exception as err:  # noqa: BLE001 - the maps stand; the figures' failure is said
                if _cancelled(err):
                    raise
                figures_failed[i] = f"The faithfulness figures could not be measured: {_sentence(err)}"
    out = []
    for i, entry in enumerate(items):
        for method in (m for m in methods if m in pending[i]):
            row = {**base[i], "method": method, "params": params_json(methods[method])}
            e = explained.get((i, method))
            if i in failed or isinstance(e, Exception) or e is None:
                row["error"] = failed.get(i) or (_sentence(e) if isinstance(e, Exception) else "Not explained.")
                out.append((method, row, None))
                continue
            prediction = ready[i][1]
            if prediction is not None:
                _, label, confidence = prediction.top(1)[0]
                row.update(prediction=label, confidence=float(confidence))
                if entry.label is not None:
                    row["correct"] = str(label) == str(entry.label)
            row.update(target=e.target_label if e.target_label is not None else e.target, runtime_s=e.runtime_s,
                       n_forward=e.n_forward, n_backward=e.n_backward, device=e.device,
                       tokens=list(e.tokens) if e.tokens is not None else None,
                       error=figures_failed.get(i))
            for name, value in (e.faithfulness or {}).items():
                # numbers only: curves stay out of the table (their areas are figures of their own), and so do the
                # options a modality reports beside its figures (text's "removal")
                if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
                    row[FAITH_PREFIX + name] = float(value)
            out.append((method, row, np.asarray(e.scores, dtype=np.float32)))
    return out


def encode_map(scores: np.ndarray | None) -> bytes | None:
    if scores is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, scores, allow_pickle=False)
    return buffer.getvalue()


def decode_map(data) -> np.ndarray | None:
    if _value(data) is None:
        return None
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)


def _value(v):
    """A cell as Python: None for a null (None, NaN, pandas' NA)."""
    if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType":
        return None
    return v


class ExplainActor:
    """A Ray Data worker: loads ``model`` once (its GPU when Ray gave it one), then explains each batch of items.

    A batch in: columns path, label, input_id, data (bytes), error, pending (JSON list of methods). A batch out:
    columns method, row (JSON), scores (the map as .npy bytes, null on an error row) — the same three columns
    whatever the modality, so every block has one schema."""

    def __init__(self, model: str, methods: dict[str, dict], options: dict | None, threads: int = 1):
        import torch

        from models import load_model

        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, int(threads)))
        self.model = load_model(model)
        self.methods, self.options = methods, options

    def __call__(self, batch: dict) -> dict:
        items, pending = [], []
        for k in range(len(batch["input_id"])):
            label, data, error = (_value(batch[c][k]) for c in ("label", "data", "error"))
            items.append(Item(str(batch["path"][k]), None if label is None else str(label), str(batch["input_id"][k]),
                              None if data is None else bytes(data), None if error is None else str(error)))
            pending.append(json.loads(batch["pending"][k]))
        results = explain_items(self.model, items, pending, self.methods, self.options)
        return {"method": [m for m, _, _ in results],
                "row": [json.dumps(r, default=str) for _, r, _ in results],
                "scores": [encode_map(s) for _, _, s in results]}
