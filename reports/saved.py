"""Reports saved on the server as they grow: one bundle (reports/bundle.py) per report id, in Lumen's cache dir.

The id travels in the page's URL (``?report=<id>``), so a reload or the link opened elsewhere finds the report
again. The folder is bounded: at most ``MAX_SAVED_REPORTS`` bundles and ``MAX_SAVED_MB`` together; saving one
evicts the least recently saved others, and says which.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from models.cache import cache_dir

MAX_SAVED_REPORTS = 20
MAX_SAVED_MB = 1024
_ID = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    return uuid.uuid4().hex


def valid_id(report_id) -> bool:
    """A report id is 32 lowercase hex digits (anything else in a URL is ignored, never made a path)."""
    return isinstance(report_id, str) and _ID.fullmatch(report_id) is not None


def folder() -> Path:
    """``$LUMEN_REPORTS_DIR``, else ``reports/`` in Lumen's cache dir; created when missing."""
    path = Path(os.environ.get("LUMEN_REPORTS_DIR") or cache_dir() / "reports").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path(report_id: str) -> Path:
    if not valid_id(report_id):
        raise ValueError(f"not a report id: {report_id!r}")
    return folder() / f"{report_id}.zip"


def load(report_id: str) -> bytes | None:
    """The saved bundle's bytes, or None when there is none (never saved, emptied, or evicted)."""
    try:
        return _path(report_id).read_bytes()
    except FileNotFoundError:
        return None


def save(report_id: str, data: bytes, max_reports: int | None = None, max_bytes: int | None = None) -> list[str]:
    """Write the bundle (atomically: a reader never sees half a file); returns the ids evicted, oldest first.
    The report just saved always stays. Bounds: ``MAX_SAVED_REPORTS`` and ``MAX_SAVED_MB`` unless given."""
    max_reports = MAX_SAVED_REPORTS if max_reports is None else max_reports
    max_bytes = MAX_SAVED_MB * 2**20 if max_bytes is None else max_bytes
    path = _path(report_id)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    others = sorted((p for p in folder().glob("*.zip") if p != path and valid_id(p.stem)),
                    key=lambda p: p.stat().st_mtime)
    total = len(data) + sum(p.stat().st_size for p in others)
    evicted = []
    while others and (len(others) + 1 > max_reports or total > max_bytes):
        oldest = others.pop(0)
        total -= oldest.stat().st_size
        oldest.unlink(missing_ok=True)
        evicted.append(oldest.stem)
    return evicted


def delete(report_id: str) -> None:
    _path(report_id).unlink(missing_ok=True)
