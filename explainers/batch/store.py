"""Where a dataset job's results live on disk, in files that pandas and pyarrow read without Lumen.

A job's output directory holds one **result set** per method configuration: the model (its identity), the method,
its parameters, the explained target rule and the faithfulness options. The set's id is a hash of all of that, so a
changed parameter (or another model) writes a new set beside the old one instead of mixing rows::

    OUT/
      manifest.json                 the job: data source, model identity, methods, Lumen's version, the sets
      grad-cam-1a2b3c4d/            a result set: "<method>-<8 hex digits of its configuration>"
        set.json                    the set's configuration (model identity, method, params, target, options)
        rows/part-<uuid>.parquet    one row per input (ROW_COLUMNS + one float column per faithfulness figure)
        maps/part-<uuid>.npz        the scores of the same part's rows, one array per ``input_id``

    pandas.read_parquet("OUT/grad-cam-1a2b3c4d/rows")   # every row of one set
    numpy.load("OUT/grad-cam-1a2b3c4d/maps/part-….npz")["<input_id>"]

A part is written whole or not at all (a temporary name, then an atomic rename; the maps before the rows), so a job
killed at any moment leaves only complete parts: an input is done when a row names it, and a rerun skips it.
Only the driver process writes; Ray's workers return rows and maps to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

FORMAT = "lumen-batch"
VERSION = 1
FAITH_PREFIX = "faith_"  # a faithfulness figure's column: "faith_" + the figure's name

# Every row has these columns (faithfulness figures follow as FAITH_PREFIX + name, float, NaN where not measured).
ROW_COLUMNS: dict[str, str] = {
    "input_id": "the input's content hash (16 hex digits): the key a rerun skips by",
    "path": "the input's path inside the data (a file, 'file.csv#row 12', 'texts.txt#line 3')",
    "label": "the true label when the data gives one (a class subfolder, a label column), else null",
    "prediction": "the model's top class on the input",
    "confidence": "the model's probability of that class",
    "correct": "prediction == label, null without a label",
    "target": "the class the explanation is for",
    "method": "the method id",
    "params": "the method's parameters, JSON",
    "runtime_s": "the explanation's time in seconds (faithfulness figures not included)",
    "n_forward": "the explanation's forward passes",
    "n_backward": "the explanation's backward passes",
    "device": "where it ran (cpu, cuda:0)",
    "worker": "which worker process ran it",
    "error": "one sentence when the input could not be read or explained (then no map), else null",
    "tokens": "the input's tokens (texts), else null",
    "map_part": "the maps file holding this row's scores (relative to the set), null on an error row",
}


def input_id(content: bytes) -> str:
    """An input's key: the first 16 hex digits of the SHA-256 of its bytes (a file's bytes, a text's UTF-8, a
    table row's canonical JSON)."""
    return hashlib.sha256(content).hexdigest()[:16]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class SetConfig:
    """What makes two results comparable: the same model, method, parameters, target rule and figure options."""

    method: str
    params: dict
    model: dict  # reports.report.ModelIdentity.to_dict()
    target: Any = None  # None: each input's top class
    options: dict | None = None  # faithfulness options; None: no faithfulness figures

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params, "model": self.model, "target": self.target,
                "options": self.options}

    @property
    def id(self) -> str:
        digest = hashlib.sha256(_canonical(self.to_dict()).encode("utf-8")).hexdigest()[:8]
        return f"{self.method}-{digest}"


class ResultSet:
    """One result set's directory: what is done in it, and new parts written atomically."""

    def __init__(self, out: Path | str, config: SetConfig):
        self.out = Path(out)
        self.config = config
        self.dir = self.out / config.id
        (self.dir / "rows").mkdir(parents=True, exist_ok=True)
        (self.dir / "maps").mkdir(parents=True, exist_ok=True)
        meta = self.dir / "set.json"
        if not meta.exists():
            _write_json(meta, {"format": FORMAT, "version": VERSION, "id": config.id, **config.to_dict()})

    def done_ids(self) -> set[str]:
        """The inputs that have a row (error rows included: a rerun does not retry them)."""
        frame = read_set(self.dir, columns=["input_id"])
        return set(frame["input_id"]) if len(frame) else set()

    def write(self, rows: list[dict], maps: dict[str, np.ndarray]) -> Path | None:
        """One part: ``rows`` (one per input, ROW_COLUMNS and faithfulness columns) and their ``maps`` by input id.
        The maps file is renamed into place before the rows file, so a row never points at a missing map."""
        if not rows:
            return None
        import pandas as pd

        part = f"part-{uuid.uuid4().hex[:12]}"
        map_part = None
        if maps:
            map_part = f"maps/{part}.npz"
            tmp = self.dir / "maps" / f".{part}.npz.tmp"
            with open(tmp, "wb") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in maps.items()})
            os.replace(tmp, self.dir / map_part)
        frame = pd.DataFrame([{**{c: None for c in ROW_COLUMNS}, **row,
                               "map_part": map_part if row.get("input_id") in maps else None} for row in rows])
        for column in ("confidence", "runtime_s") + tuple(c for c in frame.columns if c.startswith(FAITH_PREFIX)):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        for column in ("n_forward", "n_backward"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
        frame["correct"] = frame["correct"].astype("boolean")
        for column in ("input_id", "path", "label", "prediction", "target", "method", "params", "device", "worker",
                       "error", "map_part"):
            frame[column] = frame[column].map(lambda v: None if v is None or v is pd.NA or v != v else str(v)).astype("string")
        tmp = self.dir / "rows" / f".{part}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self.dir / "rows" / f"{part}.parquet")
        return self.dir / "rows" / f"{part}.parquet"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _parts(set_dir: Path) -> list[Path]:
    return sorted((set_dir / "rows").glob("part-*.parquet"))


def read_set(set_dir: Path | str, columns: list[str] | None = None):
    """Every row of one result set, as a pandas DataFrame (empty with no part yet)."""
    import pandas as pd

    parts = _parts(Path(set_dir))
    if not parts:
        return pd.DataFrame({c: [] for c in (columns or ROW_COLUMNS)})
    return pd.concat([pd.read_parquet(p, columns=columns) for p in parts], ignore_index=True)


def write_manifest(out: Path | str, job: dict, sets: Iterable[ResultSet]) -> dict:
    """``OUT/manifest.json``: the job (data, model, methods, Lumen's version), its sets by method, and every set
    found in the directory (older configurations stay listed under ``"all_sets"``)."""
    out = Path(out)
    current = {s.config.method: s.config.id for s in sets}
    manifest = {"format": FORMAT, "version": VERSION, **job, "sets": current,
                "all_sets": sorted(p.parent.name for p in out.glob("*/set.json"))}
    _write_json(out / "manifest.json", manifest)
    return manifest


def add_sets(out: Path | str, sets: dict[str, str], methods: dict[str, dict]) -> dict:
    """Add result sets ({method: set id}) and their methods' parameters to the job's manifest: a job whose methods
    ran in two passes (a dataset-wide method beside the per-input ones) lists all of them."""
    out = Path(out)
    manifest = read_manifest(out)
    manifest["sets"] = {**manifest.get("sets", {}), **sets}
    manifest["methods"] = {**manifest.get("methods", {}), **methods}
    manifest["all_sets"] = sorted(p.parent.name for p in out.glob("*/set.json"))
    _write_json(out / "manifest.json", manifest)
    return manifest


def read_manifest(out: Path | str) -> dict:
    """The job's manifest; a sentence-bearing ``ValueError`` when ``out`` is not a Lumen result directory."""
    path = Path(out) / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{out} is not a Lumen result directory (it has no manifest.json).")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Lumen batch manifest.")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path} is format version {manifest.get('version')}; this Lumen reads version {VERSION}.")
    return manifest


def read_results(out: Path | str, sets: Iterable[str] | None = None):
    """The rows of the job's current sets (or of ``sets``, by id), one DataFrame, with a ``set`` column."""
    import pandas as pd

    out = Path(out)
    ids = list(sets) if sets is not None else list(read_manifest(out)["sets"].values())
    frames = [read_set(out / i).assign(set=i) for i in ids]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in [*ROW_COLUMNS, "set"]})


def read_map(out: Path | str, row) -> np.ndarray | None:
    """The scores of one row (a mapping or a DataFrame row with ``set``, ``map_part`` and ``input_id``); None for an
    error row."""
    import pandas as pd

    part = row["map_part"]
    if part is None or pd.isna(part):
        return None
    with np.load(Path(out) / row["set"] / str(part)) as maps:
        return maps[row["input_id"]]
