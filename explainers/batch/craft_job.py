"""CRAFT at dataset scale on Ray: hundreds of images of one class, crops and coefficients on the workers, the concept
bank factorised once on the driver (``explainers.concepts.dataset.craft_dataset`` holds the steps).

    from explainers.batch.craft_job import run_craft
    e, summary = run_craft("FOLDER", model="efficientnet-lite0", params={"n_concepts": 10}, out="OUT")

The images are read on the driver as a dataset job's items (``reader``), cut into shards of ``batch_size`` images,
and each shard's work runs on a pool of ``CraftActor`` workers (each loads the model once; one GPU each when the
cluster has GPUs, one CPU otherwise). What is written, in the job's output directory as any method's result set
(``store``): one row per image (its prediction, the class explained, its map = its concept maps (r, h, w)), and the
whole explanation as ``craft.json`` (``Explanation.to_json``: the bank, importances, gallery crops, Lens figures),
which the Concepts page opens. The set's configuration includes a key of its images, so other images never reuse a
result. A rerun of the same job finds ``craft.json`` and does nothing; a job stopped before the end is run again
whole (the factorisation needs every image's crops).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from explainers.batch.actors import params_json, worker_name
from explainers.batch.reader import BUNDLED, Item, data_path, load_item, read_items
from explainers.batch.store import ResultSet, SetConfig, input_id, write_manifest
from models.errors import ExplainerError, InputError

RESULT = "craft.json"
DEFAULT_SHARD = 16


class CraftActor:
    """A Ray worker for CRAFT's per-shard steps: the model loaded once, each shard's items decoded here."""

    def __init__(self, model: str, threads: int = 1):
        import torch

        from models import load_model

        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, int(threads)))
        self.model = load_model(model)

    def run(self, fn, items: list[Item], kwargs: dict):
        return fn(self.model, [load_item(self.model, entry) for entry in items], **kwargs)


def ray_shards(model_source: str, workers: int | None, notes: list[str], cancel=None):
    """``run_shards`` on a pool of ``CraftActor``s (Ray must be started): shards in, results out in shard order."""
    import ray
    from ray.util import ActorPool

    from explainers.batch.running import _pool

    n, ask = _pool(workers, notes)
    actors = [ray.remote(**ask)(CraftActor).remote(model_source) for _ in range(n)]
    pool = ActorPool(actors)

    def run(fn, shards, **kwargs):
        out = []
        for result in pool.map(lambda actor, shard: actor.run.remote(fn, shard, kwargs), shards):
            if cancel is not None and cancel.is_set():
                raise ExplainerError("The CRAFT job was cancelled; nothing was written. Run it again to start over.")
            out.append(result)
        return out

    return run, n


def run_craft(data, model: str, params: dict | None = None, out=None, *, target=None, address: str | None = None,
              workers: int | None = None, limit: int | None = None, batch_size: int | None = None, progress=None,
              cancel=None):
    """CRAFT over the images of ``data`` (a folder or ZIP, a bundled dataset) on Ray; (the Explanation, the
    ``JobSummary``). ``target``: the class (None: the most frequent top class); ``progress(sentence)`` at each step.
    Unreadable images are left out with their sentence in ``summary.errors``."""
    from explainers import get_method
    from explainers.batch.running import JobSummary, _now, start_ray
    from explainers.concepts.dataset import craft_dataset
    from explainers.core.explanation import Explanation
    from models import load_model
    from reports.report import environment, model_identity

    start = time.perf_counter()
    out = Path(out)
    summary = JobSummary(out=out)
    driver = load_model(model)
    if driver.modality != "image":
        raise InputError(f"CRAFT explains images; {model} is a {driver.modality} model.")
    params = get_method("craft", "image").resolve_params(dict(params or {}))
    index = None if target is None else driver.class_index(target)
    identity = model_identity(driver, model).to_dict()
    items = read_items(data, driver, summary.notes.append, limit)
    summary.errors = [(entry.path, entry.error) for entry in items if entry.error]
    readable = [entry for entry in items if not entry.error]
    if not readable:
        raise InputError(f"{data} holds no readable image for CRAFT.")
    # a CRAFT result belongs to its set of images: other images (or the same folder changed) make another set
    images_key = input_id("\n".join(entry.input_id for entry in readable).encode("ascii"))
    result_set = ResultSet(out, SetConfig("craft", params, identity, index, {"images": images_key}))
    summary.sets = {"craft": result_set.config.id}
    job = {"data": str(data), "data_path": str(data_path(data)),
           "bundled": data if isinstance(data, str) and data in BUNDLED else None, "model": identity,
           "model_source": model, "modality": "image", "methods": {"craft": params}, "faithfulness_options": None,
           "limit": limit, "labels": list(driver.labels), "lumen": environment(), "started_utc": _now()}
    done = result_set.dir / RESULT
    if done.is_file():
        e = Explanation.from_json(done.read_text(encoding="utf-8"))
        summary.skipped = len(readable)
        return e, summary
    size = int(batch_size or DEFAULT_SHARD)
    shards = [readable[i:i + size] for i in range(0, len(readable), size)]
    write_manifest(out, {**job, "status": "running", "n_items": len(items)}, [result_set])

    started = start_ray(address)
    try:
        import ray

        summary.address = ray.get_runtime_context().gcs_address
        run, summary.workers = ray_shards(model, workers, summary.notes, cancel)
        e = craft_dataset(driver, shards, lambda shard: [load_item(driver, entry) for entry in shard], run,
                          target=index, progress=progress, **params)
    finally:
        if started:
            ray.shutdown()
    _write(result_set, e, readable, driver)
    summary.done = len(readable)
    summary.total = len(readable)
    summary.seconds = time.perf_counter() - start
    write_manifest(out, {**job, "status": "finished", "finished_utc": _now(), "n_items": len(items),
                         "seconds": round(summary.seconds, 3), "done": summary.done, "errors": len(summary.errors),
                         "workers": summary.workers, "address": summary.address}, [result_set])
    return e, summary


def _write(result_set: ResultSet, e, items: list[Item], model) -> None:
    """One row per image with its concept maps, then the whole explanation (last: its presence means done)."""
    worker = worker_name()
    rows, maps = [], {}
    maps_all = e.extras["concept_maps"]
    for k, entry in enumerate(items):
        prediction = e.extras["predictions"][k]
        rows.append({"input_id": entry.input_id, "path": entry.path, "label": entry.label, "prediction": prediction,
                     "correct": None if entry.label is None else str(prediction) == str(entry.label),
                     "target": e.target_label, "method": "craft", "params": params_json(e.params),
                     "runtime_s": e.runtime_s / len(items), "n_forward": round(e.n_forward / len(items)),
                     "n_backward": round(e.n_backward / len(items)), "device": e.device, "worker": worker})
        maps[entry.input_id] = maps_all[k]
    result_set.write(rows, maps)
    tmp = result_set.dir / f".{RESULT}.tmp"
    tmp.write_text(e.to_json(), encoding="utf-8")
    tmp.replace(result_set.dir / RESULT)
