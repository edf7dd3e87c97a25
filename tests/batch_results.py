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
