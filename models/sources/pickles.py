"""Pickle and joblib files: recognised by name or content, and refused with one sentence (never opened).

Unpickling runs whatever code the file names, so no model upload is ever unpickled: the skops loader and the
boosters' native-file loader (models/sources/boosters.py) both refuse these files before reading them.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import ModelLoadError

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".dill")
# pickle protocol 2+; joblib's gzip, bz2, xz, lz4 and old "ZF" compressed pickles (zlib: ``_zlib``)
_PICKLE_HEADS = (b"\x80", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18", b"ZF")


def _zlib(head: bytes) -> bool:
    """A zlib stream's two header bytes (joblib's default compression): deflate, and a multiple of 31."""
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


def looks_pickled(path, head: bytes) -> bool:
    """Whether a file is (or is named as) a pickle or a joblib dump, from its name and first bytes."""
    return Path(path).suffix.lower() in PICKLE_SUFFIXES or head.startswith(_PICKLE_HEADS) or _zlib(head)


def refuse_pickle() -> None:
    raise ModelLoadError(
        "Pickle and joblib files can run any code when they are opened, so Lumen does not load them. "
        "Save the model with skops instead (skops.io.dump(model, 'model.skops')), or an XGBoost, LightGBM or "
        "CatBoost model in its own format (save_model: .json/.ubj, .txt, .cbm)."
    )
