"""``run_job``: explain every input of a dataset with several methods on Ray, writing results as they complete.

    from explainers.batch.job import run_job
    summary = run_job("digits", model="vit-digits", methods={"grad-cam": {}, "rise": {"n_masks": 200}}, out="OUT")

The driver lists the inputs (``reader``), opens one result set per method (``store``), skips the inputs each set
already has, and hands the rest to Ray Data: ``from_items`` shards them into batches, a pool of ``ExplainActor``
workers (one GPU each when the cluster has GPUs, one CPU each otherwise) explains them, and the driver writes each
finished batch as a part as it streams back, so a job killed at any moment loses only the batches in flight and a
rerun of the same job over the same directory redoes nothing. Ray is started on this machine unless ``address`` (or
``$RAY_ADDRESS``) names a cluster to join; a Ray already started in this process is used as it is.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from explainers.batch.actors import ExplainActor, decode_map
from explainers.batch.running import JobSummary, _now, _pool, check_address, start_ray  # noqa: F401 (start_ray: tests, pages)
from explainers.batch.reader import BUNDLED, data_path, read_items
from explainers.batch.store import ResultSet, SetConfig, write_manifest
from models.errors import ExplainerError

DEFAULT_BATCH = {"image": 16, "text": 8, "tabular": 32}  # items per batch (and per part written)


def method_configs(model, methods: dict[str, dict]) -> dict[str, dict]:
    """{method: its resolved parameters} (defaults filled in, so giving a default's value keeps the same set), or a
    sentence for an unknown method or parameter."""
    from explainers import get_method

    if not methods:
        raise ExplainerError("Name at least one method to run.")
    return {m: get_method(m, model.modality).resolve_params(dict(p or {})) for m, p in methods.items()}


def figure_options_of(model, faithfulness) -> dict | None:
    """The faithfulness options of the job's sets: None (no figures) for False, the defaults for True, a dict's
    options checked and completed."""
    from explainers.core.modality import figure_options

    if faithfulness is False or faithfulness is None:
        return None
    return figure_options(model.modality, {} if faithfulness is True else dict(faithfulness))


def run_job(data, model: str, methods: dict[str, dict], out, address: str | None = None, workers: int | None = None,
            limit: int | None = None, faithfulness=True, batch_size: int | None = None, progress=None,
            cancel=None) -> JobSummary:
    """Explain the inputs of ``data`` (a folder or ZIP of images, a CSV / Parquet / .txt of texts, a CSV / Parquet
    table, or a bundled dataset's name: ``reader.BUNDLED``) by ``model`` with each of ``methods`` ({method:
    params}), writing one result set per method under ``out``. ``faithfulness``: True (the figures with their
    default options), False (none) or a dict of options. ``progress(done, total)``: in items × methods this run
    does (those already done are skipped, and counted in ``summary.skipped``); ``cancel``: a ``threading.Event``
    that stops the job between batches (what was written stays). Sentences (``LumenError``) for a bad model, method,
    parameter or data, before any work."""
    from explainers.batch.store import read_manifest
    from models import load_model
    from reports.report import environment, model_identity

    start = time.perf_counter()
    out = Path(out)
    summary = JobSummary(out=out)
    check_address(address)  # a wrong address is said before any work
    driver_model = load_model(model)
    configs = method_configs(driver_model, methods)
    whole = dataset_wide(driver_model, configs)
    if whole:
        return _with_dataset_wide(data, model, methods, whole, out, address=address, workers=workers, limit=limit,
                                  faithfulness=faithfulness, batch_size=batch_size, progress=progress, cancel=cancel)
    options = figure_options_of(driver_model, faithfulness)
    identity = model_identity(driver_model, model).to_dict()
    items = read_items(data, driver_model, summary.notes.append, limit)
    unique, copies = {}, 0
    for entry in items:  # an input that appears twice (a copied file) is explained once
        copies += entry.input_id in unique
        unique.setdefault(entry.input_id, entry)
    if copies:
        summary.notes.append(f"{copies} input{'s are copies' if copies > 1 else ' is a copy'} of another; each "
                             "distinct input is explained once.")
    items = list(unique.values())
    out.mkdir(parents=True, exist_ok=True)
    sets = {m: ResultSet(out, SetConfig(m, params, identity, None, options)) for m, params in configs.items()}
    summary.sets = {m: s.config.id for m, s in sets.items()}
    done = {m: s.done_ids() for m, s in sets.items()}
    pending = [[m for m in configs if entry.input_id not in done[m]] for entry in items]
    summary.skipped = sum(len(configs) - len(p) for p in pending)
    summary.total = sum(len(p) for p in pending)
    source = {"data": str(data), "data_path": str(data_path(data)),
              "bundled": data if isinstance(data, str) and data in BUNDLED else None}
    job = {**source, "model": identity, "model_source": model, "modality": driver_model.modality,
           "methods": configs, "faithfulness_options": options, "limit": limit, "n_items": len(items),
           "feature_names": list(getattr(driver_model, "feature_names", None) or []) or None,
           "labels": list(driver_model.labels), "lumen": environment(), "started_utc": _now(), "status": "running"}
    try:
        previous = read_manifest(out)
        job["runs"] = int(previous.get("runs", 0)) + 1
    except (ValueError, OSError):
        job["runs"] = 1
    write_manifest(out, job, sets.values())
    todo = [(entry, p) for entry, p in zip(items, pending) if p]
    if progress is not None:
        progress(0, summary.total)
    if todo and not (cancel is not None and cancel.is_set()):
        _run(todo, model, configs, options, sets, summary, address, workers,
             batch_size or DEFAULT_BATCH.get(driver_model.modality, 8), progress, cancel)
    elif cancel is not None and cancel.is_set():
        summary.cancelled = True
    summary.seconds = time.perf_counter() - start
    finished = "cancelled" if summary.cancelled else "finished"
    write_manifest(out, {**job, "status": finished, "finished_utc": _now(), "seconds": round(summary.seconds, 3),
                         "done": summary.done, "skipped": summary.skipped, "errors": len(summary.errors),
                         "workers": summary.workers, "address": summary.address}, sets.values())
    return summary


def dataset_wide(model, configs: dict[str, dict]) -> dict[str, dict]:
    """The methods among ``configs`` that explain the whole set of inputs at once (``Method.many``: CRAFT)."""
    from explainers import get_method

    whole = {m: p for m, p in configs.items() if get_method(m, model.modality).many}
    if set(whole) - {"craft"}:
        raise ExplainerError(f"{', '.join(sorted(set(whole) - {'craft'}))} explains a set of inputs at once, and "
                             "dataset jobs run only CRAFT that way.")
    return whole


def _with_dataset_wide(data, model, methods, whole, out, **options) -> JobSummary:
    """A job with CRAFT: the per-input methods first (``run_job``), then CRAFT over every image
    (``craft_job.run_craft``), one manifest listing both."""
    from explainers.batch.craft_job import run_craft
    from explainers.batch.store import add_sets, read_manifest

    rest = {m: p for m, p in methods.items() if m not in whole}
    summary = run_job(data, model, rest, out, **options) if rest else JobSummary(out=Path(out))
    if summary.cancelled:
        return summary
    before = read_manifest(out) if rest else None  # run_craft writes its own manifest: the per-input sets go back in
    cancel, progress = options["cancel"], options["progress"]
    _, craft = run_craft(data, model, whole["craft"], out, address=options["address"], workers=options["workers"],
                         limit=options["limit"], batch_size=options["batch_size"], cancel=cancel,
                         progress=None if progress is None else (lambda _sentence: progress(summary.done,
                                                                                            summary.total)))
    if before is not None:
        add_sets(out, {**before["sets"], **craft.sets}, {**before["methods"], **read_manifest(out)["methods"]})
    summary.sets.update(craft.sets)
    summary.done += craft.done
    summary.skipped += craft.skipped
    summary.total += craft.total
    summary.errors += [e for e in craft.errors if e not in summary.errors]
    summary.notes += craft.notes
    summary.seconds += craft.seconds
    summary.workers = summary.workers or craft.workers
    summary.address = summary.address or craft.address
    return summary


def _run(todo, model, configs, options, sets, summary: JobSummary, address, workers, batch_size, progress,
         cancel) -> None:
    import ray
    import ray.data

    started = start_ray(address)
    try:
        summary.address = ray.get_runtime_context().gcs_address
        n, ask = _pool(workers, summary.notes)
        summary.workers = n
        rows = [{"path": e.path, "label": e.label, "input_id": e.input_id, "data": e.data, "error": e.error,
                 "pending": json.dumps(p)} for e, p in todo]
        blocks = max(1, math.ceil(len(rows) / batch_size))  # one block per batch: each arrives (and is written) alone
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            ExplainActor, batch_size=batch_size, batch_format="pandas",
            fn_constructor_kwargs={"model": model, "methods": configs, "options": options, "threads": 1},
            compute=ray.data.ActorPoolStrategy(size=n), **ask)
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas", prefetch_batches=0):
            _write(batch, sets, summary)
            if progress is not None:
                progress(summary.done, summary.total)
            if cancel is not None and cancel.is_set():
                summary.cancelled = summary.done < summary.total
                break
    finally:
        if started:
            ray.shutdown()


def _write(batch, sets: dict[str, ResultSet], summary: JobSummary) -> None:
    """One finished batch: each method's rows and maps as one part of its set."""
    grouped: dict[str, tuple[list, dict]] = {}
    for method, row_json, scores in zip(batch["method"], batch["row"], batch["scores"]):
        row = json.loads(row_json)
        rows, maps = grouped.setdefault(str(method), ([], {}))
        rows.append(row)
        scores = decode_map(scores)
        if scores is not None:
            maps[row["input_id"]] = scores
        if row.get("error") and scores is None and (row["path"], row["error"]) not in summary.errors:
            summary.errors.append((row["path"], row["error"]))
    for method, (rows, maps) in grouped.items():
        sets[method].write(rows, maps)
        summary.done += len(rows)
