"""Dataset-wide summaries of a job's results (``store``): what the Datasets page, a script or a report shows.

    r = open_results(OUT)                       # the manifest and every row of the job's current sets
    class_mean_maps(r, "grad-cam")             # images: {class: ClassMap}, each map on one grid
    figure_values(r)                            # {figure: {method: values}}: the faithfulness distributions
    item_agreement(r)                           # per input: agreement between its methods' maps
    table = items_table(r)                      # one row per input: prediction, each method's headline, agreement
    filter_items(table, r, "wrong predictions") # the page's filters (FILTERS)
    global_shap(r, "shap-tree")                 # tables: mean |score| per feature
    top_tokens(r, "attention")                  # texts: the tokens most often at the top, per class
    item_explanations(r, input_id)              # the input's rows as Explanations (for its maps and the report)
    read_input(r, row)                          # the input itself, from the manifest's data and the row's path

Maps are read part by part (each NPZ opened once), never more than a job's current sets.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from explainers.batch.store import FAITH_PREFIX, read_manifest, read_results
from explainers.core.explanation import Explanation
from explainers.core.modality import HEADLINE, get_modality
from explainers.metrics.agreement import pairwise_agreement
from models.errors import ExplainerError, InputError

MEAN_MAP_SIDE = 64  # the longest side of the grid per-class mean maps are drawn on
AGREEMENT_METRIC = "spearman"
RECENT_FILE = "recent_results.json"
MAX_RECENT = 10


@dataclass
class Results:
    """An opened result directory: its manifest, its rows (``store.read_results``) and what they hold."""

    out: Path
    manifest: dict
    rows: pd.DataFrame
    modality: str
    methods: list[str]
    figures: list[str] = field(default_factory=list)  # faithfulness figures with a column, the headline first

    @property
    def ok(self) -> pd.DataFrame:
        """The rows with a map (a row whose figures failed keeps its map, and says why in its ``error``)."""
        return self.rows[self.rows["map_part"].notna()]

    @property
    def headline(self) -> tuple[str, str] | None:
        """(figure, "higher" | "lower") of the modality's headline figure, when the rows hold it."""
        try:
            figure, better = HEADLINE[self.modality]
        except KeyError:
            return None
        return (figure, better) if figure in self.figures else None

    def better(self, figure: str) -> str | None:
        try:
            return get_modality(self.modality).better.get(figure)
        except ExplainerError:
            return None


def open_results(out: Path | str) -> Results:
    """The job in ``out``; an ``InputError`` with a sentence when it is not a Lumen result directory."""
    out = Path(str(out).strip()).expanduser()
    if not out.is_dir():
        raise InputError(f"There is no folder {out}.")
    try:
        manifest = read_manifest(out)
        rows = read_results(out)
    except ValueError as err:
        raise InputError(str(err)) from None
    except OSError as err:
        raise InputError(f"The results in {out} cannot be read ({err.strerror or err}).") from None
    order = list(manifest.get("sets", {}))
    methods = order + sorted(set(rows["method"].dropna()) - set(order))
    modality = _modality(out, manifest, rows)
    figures = [c[len(FAITH_PREFIX):] for c in rows.columns if c.startswith(FAITH_PREFIX)]
    try:
        known = list(get_modality(modality).better)
    except ExplainerError:
        known = []
    figures = [f for f in known if f in figures] + [f for f in figures if f not in known]
    return Results(out, manifest, rows, modality, methods, figures)


def signature(out: Path | str) -> tuple:
    """What changes when a job writes: the manifest's time and the row parts present (a running job adds parts), so
    that a cache of summaries keyed by it is never stale."""
    out = Path(str(out).strip()).expanduser()
    manifest = out / "manifest.json"
    stamp = manifest.stat().st_mtime_ns if manifest.is_file() else None
    return stamp, tuple(sorted(p.relative_to(out).as_posix() for p in out.glob("*/rows/part-*.parquet")))


def overview(results: Results) -> dict[str, Any]:
    """The counts a page states first: inputs, rows, error rows, methods, and the accuracy where labels are known."""
    rows = results.rows
    first = rows.drop_duplicates("input_id")
    known = first["correct"].dropna()
    model = results.manifest.get("model")
    return {"inputs": int(first["input_id"].nunique()), "rows": len(rows), "errors": int(rows["error"].notna().sum()),
            "methods": list(results.methods), "modality": results.modality,
            "model": model.get("name") if isinstance(model, dict) else model,
            "accuracy": float(known.astype(bool).mean()) if len(known) else None, "labelled": len(known)}


def model_identity(results: Results):
    """The job's model as a report item names it (``reports.report.ModelIdentity``), from the manifest."""
    from reports.report import ModelIdentity

    model = results.manifest.get("model")
    if isinstance(model, dict):
        return ModelIdentity(**{k: model.get(k) for k in ("name", "source", "sha256", "sha256_of")
                                if model.get(k) is not None})
    return ModelIdentity(str(model or ""))


def described(results: Results) -> str:
    """The job in words, for a dataset view in a report: "vit-digits on 1,797 inputs of digits"."""
    facts = overview(results)
    data = str(results.manifest.get("data") or "").rstrip("/").rsplit("/", 1)[-1]
    return f"{facts['model']} on {facts['inputs']:,} inputs" + (f" of {data}" if data else "")


def _modality(out: Path, manifest: dict, rows: pd.DataFrame) -> str:
    """The manifest's ``modality`` when it says one, else what the maps are: a grid is an image's, a vector with
    tokens a text's, a vector without a table row's."""
    if manifest.get("modality"):
        return str(manifest["modality"])
    ok = rows[rows["map_part"].notna()]
    if not len(ok):
        return "image"
    first = ok.iloc[0]
    scores = _read_maps(out, ok.iloc[:1])[0]
    if scores is not None and scores.ndim == 2:
        return "image"
    return "text" if _tokens(first.get("tokens")) else "tabular"


def _read_maps(out: Path, rows: pd.DataFrame) -> list[np.ndarray | None]:
    """The maps of ``rows``, in their order; each maps file opened once."""
    found: list[np.ndarray | None] = [None] * len(rows)
    positions: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for k, (set_id, part, key) in enumerate(zip(rows["set"], rows["map_part"], rows["input_id"])):
        if part is None or pd.isna(part):
            continue
        positions.setdefault((str(set_id), str(part)), []).append((k, str(key)))
    for (set_id, part), wanted in positions.items():
        with np.load(out / set_id / part) as maps:
            for k, key in wanted:
                if key in maps.files:
                    found[k] = np.asarray(maps[key], dtype=np.float32)
    return found


def _tokens(value) -> list[str]:
    """A row's tokens: a Parquet list, a JSON list or nothing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    try:
        return [str(t) for t in value]
    except TypeError:
        return []


def group_column(results: Results) -> str:
    """What a "class" is for the summaries: the true label where the data gives labels, else the explained
    target."""
    labels = results.rows["label"].dropna()
    return "label" if len(labels) else "target"


def _class_order(values) -> list:
    keys = sorted({str(v) for v in values if v is not None and not pd.isna(v)})
    return sorted(keys, key=lambda k: (0, int(k)) if k.lstrip("-").isdigit() else (1, k))


# ---------------------------------------------------------------- images: per-class mean maps


@dataclass
class ClassMap:
    """The mean map of one class: each input's map scaled by its largest |score| (so every input counts the same),
    resampled onto one grid, then averaged over ``n`` inputs."""

    label: str
    mean: np.ndarray
    n: int


def grid_shape(shapes: list[tuple[int, int]], side: int = MEAN_MAP_SIDE) -> tuple[int, int]:
    """One grid for maps of many shapes: the most common shape, its longest side brought to at most ``side``."""
    if not shapes:
        return (side, side)
    values, counts = np.unique(np.array(shapes), axis=0, return_counts=True)
    h, w = (int(v) for v in values[int(np.argmax(counts))])
    scale = min(1.0, side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def resample(scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A map on ``shape``: block means to shrink, bilinear to enlarge (each axis as it needs)."""
    s = np.asarray(scores, dtype=np.float32)
    if s.shape == tuple(shape):
        return s
    h, w = shape
    smaller = h <= s.shape[0] and w <= s.shape[1]
    return np.asarray(Image.fromarray(s, mode="F").resize((w, h), Image.BOX if smaller else Image.BILINEAR),
                      dtype=np.float32)


def class_mean_maps(results: Results, method: str, by: str | None = None, side: int = MEAN_MAP_SIDE
                    ) -> dict[str, ClassMap]:
    """Per class (``by``: "label", "prediction" or "target"; default ``group_column``), the mean of ``method``'s
    maps over the inputs of that class (see ``ClassMap``), all on one grid (``grid_shape``)."""
    if results.modality != "image":
        raise InputError("Per-class mean maps are for images; these results are not.")
    by = by or group_column(results)
    rows = results.ok[results.ok["method"] == method]
    maps = _read_maps(results.out, rows)
    keep = [(str(k), m) for k, m in zip(rows[by], maps) if m is not None and m.ndim == 2 and not pd.isna(k)]
    shape = grid_shape([m.shape for _, m in keep], side)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for key, m in keep:
        top = float(np.abs(m).max())
        grid = resample(m / top if top > 0 else m, shape)
        sums[key] = sums.get(key, 0) + grid
        counts[key] = counts.get(key, 0) + 1
    return {k: ClassMap(k, (sums[k] / counts[k]).astype(np.float32), counts[k]) for k in _class_order(sums)}


# ---------------------------------------------------------------- faithfulness distributions


def figure_values(results: Results, figures: list[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{figure: {method: the figure's values over the inputs (NaN left out)}}, methods in the job's order."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for figure in figures or results.figures:
        column = FAITH_PREFIX + figure
        if column not in results.rows:
            continue
        per = {}
        for method in results.methods:
            values = results.rows.loc[results.rows["method"] == method, column].to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            if values.size:
                per[method] = values
        if per:
            out[figure] = per
    return out


# ---------------------------------------------------------------- agreement between methods, per input


def item_agreement(results: Results, metric: str = AGREEMENT_METRIC) -> pd.DataFrame:
    """One row per input explained by at least two methods: the agreement (``explainers.metrics.agreement``'s
    ``pairwise_agreement`` on the maps, magnitudes compared) of each pair of methods (``"a / b"`` columns) and their
    mean (``agreement``)."""
    ok = results.ok
    maps = _read_maps(results.out, ok)
    by_input: dict[str, dict[str, np.ndarray]] = {}
    for key, method, m in zip(ok["input_id"], ok["method"], maps):
        if m is not None:
            by_input.setdefault(str(key), {})[str(method)] = m
    records = []
    for key, found in by_input.items():
        methods = [m for m in results.methods if m in found]
        if len(methods) < 2:
            continue
        record: dict[str, Any] = {"input_id": key}
        values = []
        for i, a in enumerate(methods):
            for b in methods[i + 1:]:
                if found[a].shape != found[b].shape:
                    continue
                v = pairwise_agreement(np.abs(found[a]), np.abs(found[b]), metric)
                record[f"{a} / {b}"] = v
                values.append(v)
        if values:
            record["agreement"] = float(np.mean(values))
            records.append(record)
    return pd.DataFrame(records, columns=None if records else ["input_id", "agreement"])


def agreement_values(agreement: pd.DataFrame) -> dict[str, np.ndarray]:
    """{"a / b": the pair's agreement over the inputs}: the distribution of agreement between methods."""
    return {c: agreement[c].dropna().to_numpy(dtype=np.float64) for c in agreement.columns
            if " / " in c and agreement[c].notna().any()}


# ---------------------------------------------------------------- the table of items and its filters


def column_name(method: str, figure: str) -> str:
    return f"{method} · {figure}"


def items_table(results: Results, agreement: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per input: its path, label, prediction, confidence and whether it is right, each method's figures
    (``"method · figure"`` columns), the agreement between its methods, and its errors."""
    rows = results.rows
    if not len(rows):
        return pd.DataFrame(columns=["input_id", "path", "label", "prediction", "confidence", "correct"])
    first = rows.groupby("input_id", sort=False).agg(
        path=("path", "first"), label=("label", "first"), prediction=("prediction", "first"),
        confidence=("confidence", "first"), correct=("correct", "first"))
    table = first.reset_index()
    for figure in results.figures:
        wide = rows.pivot_table(index="input_id", columns="method", values=FAITH_PREFIX + figure, aggfunc="first")
        for method in results.methods:
            if method in wide.columns:
                table[column_name(method, figure)] = table["input_id"].map(wide[method]).astype("float64")
    if agreement is not None and len(agreement) and "agreement" in agreement:
        table["agreement"] = table["input_id"].map(agreement.set_index("input_id")["agreement"]).astype("float64")
    errors = rows.dropna(subset=["error"]).groupby("input_id")["error"].agg(lambda s: " ".join(dict.fromkeys(s)))
    table["error"] = table["input_id"].map(errors)
    return table


FILTERS = ("all items", "wrong predictions", "lowest confidence", "worst headline figure", "most disagreement",
           "errors")


def filter_label(name: str, results: Results) -> str:
    """A filter as the page offers it: the headline filter says its figure and which way is worse."""
    if name == "worst headline figure" and results.headline:
        figure, better = results.headline
        return f"worst {figure} ({'lowest' if better == 'higher' else 'highest'} first)"
    return name


def available_filters(results: Results, table: pd.DataFrame) -> list[str]:
    """The filters that apply to these results."""
    out = ["all items"]
    if table["correct"].notna().any():
        out.append("wrong predictions")
    if table["confidence"].notna().any():
        out.append("lowest confidence")
    if results.headline:
        out.append("worst headline figure")
    if "agreement" in table and table["agreement"].notna().any():
        out.append("most disagreement")
    if table["error"].notna().any():
        out.append("errors")
    return out


def filter_items(table: pd.DataFrame, results: Results, how: str = "all items", method: str | None = None,
                 n: int | None = None) -> pd.DataFrame:
    """The items ``how`` (one of ``FILTERS``) picks, in its order (the worst first), at most ``n``:
    "wrong predictions" (the least confident first), "lowest confidence", "worst headline figure" (of ``method``,
    default the first; the worse end of ``HEADLINE[modality]`` first), "most disagreement" (lowest agreement first),
    "errors"."""
    if how not in FILTERS:
        raise InputError(f"Unknown filter {how!r}; choose one of: {', '.join(FILTERS)}.")
    t = table
    if how == "wrong predictions":
        t = t[t["correct"].eq(False).fillna(False).astype(bool)].sort_values("confidence", kind="stable")
    elif how == "lowest confidence":
        t = t[t["confidence"].notna()].sort_values("confidence", kind="stable")
    elif how == "worst headline figure":
        if not results.headline:
            raise InputError("These results hold no headline faithfulness figure.")
        figure, better = results.headline
        column = column_name(method or results.methods[0], figure)
        if column not in t:
            raise InputError(f"{method} has no {figure} figures in these results.")
        t = t[t[column].notna()].sort_values(column, ascending=better == "higher", kind="stable")
    elif how == "most disagreement":
        if "agreement" not in t:
            raise InputError("Agreement needs two methods or more on the same inputs.")
        t = t[t["agreement"].notna()].sort_values("agreement", kind="stable")
    elif how == "errors":
        t = t[t["error"].notna()]
    return (t.head(n) if n else t).reset_index(drop=True)


# ---------------------------------------------------------------- tables and texts


def feature_names(results: Results, n: int) -> list[str]:
    names = results.manifest.get("features") or results.manifest.get("feature_names")
    if isinstance(names, list) and len(names) == n:
        return [str(x) for x in names]
    return [f"feature {j}" for j in range(n)]


def global_shap(results: Results, method: str) -> tuple[list[str], np.ndarray, int]:
    """Tables: (feature names, mean |score| per feature over the rows of ``method``, rows counted) — the global
    importance SHAP's summary bar shows, from the batch's per-row scores."""
    rows = results.ok[results.ok["method"] == method]
    maps = [m for m in _read_maps(results.out, rows) if m is not None and m.ndim == 1]
    if not maps:
        raise InputError(f"{method} has no scores in these results.")
    size = maps[0].size
    maps = [m for m in maps if m.size == size]
    mean = np.abs(np.stack(maps)).mean(axis=0)
    return feature_names(results, size), mean, len(maps)


SPECIAL_TOKENS = {"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>", "[UNK]"}


def top_tokens(results: Results, method: str, per_text: int = 3, n: int = 10, by: str | None = None
               ) -> dict[str, list[tuple[str, int, float]]]:
    """Texts: per class (``by``, default ``group_column``), the tokens most often among a text's ``per_text``
    highest-scoring tokens (special tokens left out, case folded): ``[(token, texts, share of the class's texts)]``,
    the ``n`` most frequent first."""
    by = by or group_column(results)
    rows = results.ok[results.ok["method"] == method]
    maps = _read_maps(results.out, rows)
    counts: dict[str, dict[str, int]] = {}
    texts: dict[str, int] = {}
    for key, tokens, m in zip(rows[by], rows["tokens"], maps):
        tokens = _tokens(tokens)
        if m is None or pd.isna(key) or len(tokens) != m.size:
            continue
        key = str(key)
        texts[key] = texts.get(key, 0) + 1
        order = [j for j in np.argsort(-m, kind="stable") if tokens[j].strip() not in SPECIAL_TOKENS]
        seen = {tokens[j].strip().lower().removeprefix("##").removeprefix("▁").removeprefix("Ġ")
                for j in order[:per_text]}
        for token in seen - {""}:
            counts.setdefault(key, {})[token] = counts.setdefault(key, {}).get(token, 0) + 1
    return {k: [(t, c, c / texts[k]) for t, c in sorted(counts.get(k, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
            for k in _class_order(texts)}


# ---------------------------------------------------------------- one item: its explanations and its input


def item_rows(results: Results, input_id: str) -> pd.DataFrame:
    return results.rows[results.rows["input_id"] == input_id]


def item_explanations(results: Results, input_id: str) -> list[Explanation]:
    """The input's rows that have a map, as Explanations (scores, method, target, parameters, cost, figures), in
    the job's method order: what the page draws and adds to a report."""
    rows = item_rows(results, input_id)
    rows = rows[rows["map_part"].notna()]
    maps = _read_maps(results.out, rows)
    model = (results.manifest.get("model") or {}).get("name", "") if isinstance(results.manifest.get("model"), dict) \
        else str(results.manifest.get("model") or "")
    out = []
    for (_, row), m in zip(rows.iterrows(), maps):
        if m is None:
            continue
        target = row["target"]
        index = int(target) if isinstance(target, str) and target.lstrip("-").isdigit() else None
        try:
            params = json.loads(row["params"]) if isinstance(row["params"], str) else {}
        except json.JSONDecodeError:
            params = {}
        figures = {c[len(FAITH_PREFIX):]: float(row[c]) for c in rows.columns
                   if c.startswith(FAITH_PREFIX) and not pd.isna(row[c])}
        tokens = _tokens(row.get("tokens")) or None
        names = feature_names(results, m.size) if results.modality == "tabular" else None
        out.append(Explanation(
            scores=m, method=str(row["method"]), modality=results.modality, model=model, target=index,
            target_label=None if pd.isna(target) else str(target), params=params,
            device=str(row["device"]) if not pd.isna(row["device"]) else "cpu",
            runtime_s=float(row["runtime_s"]) if not pd.isna(row["runtime_s"]) else 0.0,
            n_forward=int(row["n_forward"]) if not pd.isna(row["n_forward"]) else 0,
            n_backward=int(row["n_backward"]) if not pd.isna(row["n_backward"]) else 0,
            tokens=tokens, feature_names=names, faithfulness=figures))
    order = {m: k for k, m in enumerate(results.methods)}
    return sorted(out, key=lambda e: order.get(e.method, len(order)))


def item_prediction(results: Results, input_id: str) -> list[tuple[None, str, float]]:
    """The model's top class on the input as a report item states it: [(index, label, probability)]."""
    rows = item_rows(results, input_id).dropna(subset=["prediction"])
    if not len(rows):
        return []
    label, p = str(rows.iloc[0]["prediction"]), rows.iloc[0]["confidence"]
    return [(None, label, float(p) if not pd.isna(p) else float("nan"))]  # the row keeps the label, not its index


def data_source(results: Results) -> Path | None:
    """Where the job read its inputs: the manifest's ``data_path`` (a bundled dataset's files), else its ``data``."""
    data = results.manifest.get("data_path") or results.manifest.get("data")
    if not data:
        return None
    return Path(str(data)).expanduser()


def read_input(results: Results, path: str):
    """The input a row names (its ``path`` inside the job's data): an image (H×W×3 uint8) from a folder or ZIP, a
    text from a CSV, Parquet or .txt (``"file#row 12"``, ``"file#line 3"``), a table row as a mapping. An
    ``InputError`` says why when the data is no longer where the job read it."""
    from models.inputs.images import decode_image

    source = data_source(results)
    if source is None:
        raise InputError("The manifest does not say where the job's data is, so the input cannot be shown.")
    if not source.exists():
        raise InputError(f"The job's data is no longer at {source}, so the input cannot be shown.")
    name, _, locator = str(path).partition("#")
    if source.is_file() and source.suffix.lower() == ".zip":
        from models.inputs.limits import MB, max_upload_mb

        with zipfile.ZipFile(source) as zf:
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise InputError(f"{source.name} holds no {name}.") from None
            if info.file_size > max_upload_mb() * MB:
                raise InputError(f"{name} is larger than the upload limit ({max_upload_mb():,} MB).")
            return decode_image(zf.read(info))
    if source.is_dir():
        file = (source / name).resolve()
        if source.resolve() not in file.parents:
            raise InputError(f"{name} is outside the job's data folder.")
    else:
        file = source
    if not file.is_file():
        raise InputError(f"The job's data holds no {name} any more.")
    from explainers.batch.reader import bounded_bytes

    if not locator:
        return decode_image(bounded_bytes(file))
    kind, _, number = locator.partition(" ")
    if not number.isdigit():
        raise InputError(f"Cannot read {path!r}: the part after '#' must be 'row N' or 'line N'.")
    k = int(number)  # 1-based, as the job names them: "line 3" is the file's third line, "row 12" its twelfth row
    if kind == "line":
        from models.inputs.texts import clean_text

        lines = clean_text(bounded_bytes(file)).splitlines()
        if not 0 < k <= len(lines) or not lines[k - 1].strip():
            raise InputError(f"{file.name} has no text on line {k}.")
        return lines[k - 1]
    frame = _frame(file)
    if not 0 < k <= len(frame):
        raise InputError(f"{file.name} has no row {k}.")
    record = frame.iloc[k - 1].to_dict()
    if results.modality == "text":
        return str(record[_text_column(frame)])
    return {str(c): (v.item() if isinstance(v, np.generic) else v) for c, v in record.items()}


def _text_column(frame: pd.DataFrame) -> str:
    """The column a text job read its texts from, picked as the job picked it."""
    from explainers.batch.reader import TEXT_COLUMNS, pick_column

    return pick_column(frame, None, TEXT_COLUMNS, "text", required=True)


def _frame(file: Path) -> pd.DataFrame:
    """A CSV or Parquet file as the job read it (within the upload limit)."""
    from explainers.batch.reader import read_frame

    return read_frame(file)[0]


# ---------------------------------------------------------------- recently opened result directories


def _recent_path() -> Path:
    from models.cache import cache_dir

    return cache_dir() / RECENT_FILE


def recent_results() -> list[str]:
    """Result directories opened lately (newest first) that are still there, and those under the cache's
    ``jobs`` folder (where the page starts jobs)."""
    from models.cache import cache_dir

    try:
        listed = json.loads(_recent_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        listed = []
    jobs = sorted((p.parent for p in (cache_dir() / "jobs").glob("*/manifest.json")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    found = [str(p) for p in listed if isinstance(p, str)] + [str(p) for p in jobs]
    return [p for p in dict.fromkeys(found) if (Path(p) / "manifest.json").is_file()][:MAX_RECENT]


def remember_results(out: Path | str) -> None:
    """Put ``out`` first in the recent result directories (a best effort: an unwritable cache is no error)."""
    path = _recent_path()
    listed = [str(Path(out))] + [p for p in recent_results() if p != str(Path(out))]
    try:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(listed[:MAX_RECENT]), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


# ---------------------------------------------------------------- what a job will cost, before it starts


@dataclass
class JobEstimate:
    """A job's cost from one of its inputs: each method's passes and seconds per input (``cost.estimate``), the
    faithfulness figures' passes and seconds per input and method, times the inputs."""

    n_items: int
    per_method: dict[str, tuple[int, int, float]]  # method -> (forward, backward, seconds) for one input
    figure_passes: int = 0  # per input and method
    figure_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        per_input = sum(s for _, _, s in self.per_method.values()) + len(self.per_method) * self.figure_seconds
        return self.n_items * per_input

    @property
    def passes(self) -> tuple[int, int]:
        f = sum(f for f, _, _ in self.per_method.values()) + len(self.per_method) * self.figure_passes
        return self.n_items * f, self.n_items * sum(b for _, b, _ in self.per_method.values())

    def sentence(self, device: str = "") -> str:
        from models.units import duration

        f, b = self.passes
        each = ", ".join(f"{m} {duration(self.n_items * s)}" for m, (_, _, s) in self.per_method.items())
        figures = f"; faithfulness {duration(self.n_items * len(self.per_method) * self.figure_seconds)}" \
            if self.figure_passes else ""
        where = f" on {device}" if device else ""
        return (f"Estimated cost: {self.n_items:,} inputs × {len(self.per_method)} method"
                f"{'' if len(self.per_method) == 1 else 's'}: {f:,} forward + {b:,} backward passes ≈ "
                f"{duration(self.seconds)}{where} with one worker ({each}{figures}; from the first input's size; "
                "workers share the inputs, and methods that explain several images per pass take less).")


def job_estimate(model, x, methods: dict[str, dict], n_items: int, faithfulness: bool = True) -> JobEstimate:
    """What explaining ``n_items`` inputs like ``x`` with ``methods`` ({method: params}) costs on ``model``'s device,
    the faithfulness figures included when ``faithfulness``; a sentence-bearing error for a refused parameter."""
    from explainers.core import cost
    from explainers.core.modality import faithfulness_passes, input_sizes, prepare_input

    x = prepare_input(model, x)
    sizes = input_sizes(model, x)
    per_method = {m: cost.estimate(model, m, p, **sizes) for m, p in methods.items()}
    figure_passes, figure_seconds = 0, 0.0
    if faithfulness:
        figure_passes = faithfulness_passes(model, x)
        found = cost.probe(model, cost.probe_tokens(model, **sizes))
        figure_seconds = float(cost.seconds(found, figure_passes, 0))
    return JobEstimate(int(n_items), per_method, figure_passes, figure_seconds)
