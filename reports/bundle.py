"""A report as a data bundle (ZIP): every explanation as JSON + NPZ, the inputs, PNG figures, a manifest.

Layout::

    manifest.json                 format, version, title, environment, items, SHA-256 of every other file
    items/001/explanation.json    Explanation.to_json(): lossless on its own
    items/001/arrays.npz          the same scores and array extras, for numpy users
    items/001/input.png           image input (input_000.png, ... for a set), input.txt (text) or input.json (row)
    items/001/figure_<kind>.png   the image overlay, generation matrix or concept crops, as the PDF shows them
    views/001/arrays.npz          a dataset view's arrays (array_000, ...): its names, counts and options are in the
    views/001/figure.png          manifest's "views"; the PNG as the PDF shows it (mean maps, distributions)

``read_bundle`` checks everything before it trusts it, reads only into memory, and
refuses path traversal, zip bombs, files the manifest does not list or whose hash
differs, with an ``InputError`` sentence.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from explainers.core.explanation import Explanation
from models.inputs import limits
from models.errors import InputError, reason, shown
from models.inputs.images import check_total_pixels, encode_png, open_image
from reports.figures import renderer
from reports.report import Agreement, DatasetView, ModelIdentity, Report, ReportItem
from reports.views import views

FORMAT = "lumen-report-bundle"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MEMBERS = 10_000
MAX_JSON_VALUES = 2_000_000  # lists, objects and their elements in all JSON files together (a few hundred MB of objects)
MAX_TOTAL_BYTES = 1 << 30  # declared uncompressed size of all members together
_CHUNK = 1 << 20


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_exportable(report: Report) -> None:
    """Refuse, before writing anything, a report whose bundle Lumen could not import again: more input pixels
    than ``read_bundle`` decodes (the bytes are measured by ``write_bundle``, once written)."""
    sizes = [(a.shape[1], a.shape[0]) for item in report.items
             for a in (item.input if isinstance(item.input, list) else [item.input]) if isinstance(a, np.ndarray)]
    check_total_pixels(sizes, f"The report's {len(sizes)} input images", _TOO_BIG_ADVICE)


_TOO_BIG_ADVICE = "Remove some items (the largest images first) and export again, so that Lumen can import it again."


def write_bundle(report: Report, max_upload_mb: int | None = None) -> bytes:
    """The report as ZIP bytes, or an ``InputError`` when the bundle would be larger than Lumen imports again:
    over ``MAX_TOTAL_PIXELS`` of input images, ``MAX_TOTAL_BYTES`` unpacked or the upload limit (``max_upload_mb``,
    by default ``server.maxUploadSize``) as a file."""
    check_exportable(report)
    files: dict[str, bytes] = {}
    items = []
    for i, item in enumerate(report.items):
        folder = f"items/{i + 1:03d}"
        ex = item.explanation
        files[f"{folder}/explanation.json"] = ex.to_json().encode("utf-8")
        files[f"{folder}/arrays.npz"] = _npz(ex)
        inputs = _input_files(folder, item.input)
        files.update(inputs)
        figures = _figures(folder, item)
        files.update(figures)
        items.append({
            "explanation": f"{folder}/explanation.json",
            "arrays": f"{folder}/arrays.npz",
            "input": {"kind": item.input_kind, "files": list(inputs)},
            "input_name": item.input_name,
            "figures": list(figures),
            "model": item.model.to_dict(),
            "prediction": [list(p) for p in item.prediction],
            "metrics": item.metrics,
            "agreement": item.agreement.to_dict() if item.agreement is not None else None,
            "view_options": item.view_options,
        })
    views = []
    for k, view in enumerate(report.views):
        folder = f"views/{k + 1:03d}"
        files[f"{folder}/arrays.npz"] = _arrays_npz(view.arrays)
        png = renderer(view.kind).png
        if png is not None:
            files[f"{folder}/figure.png"] = png(view.prepared())
        views.append({"kind": view.kind, "title": view.title, "names": view.names, "counts": view.counts,
                      "options": view.options, "source": view.source, "arrays": f"{folder}/arrays.npz"})
    manifest = {"format": FORMAT, "version": VERSION, "title": report.title, "environment": report.environment,
                "items": items, "views": views, "files": {name: _sha256(data) for name, data in files.items()}}
    manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False, default=str).encode("utf-8")
    unpacked = len(manifest_bytes) + sum(len(data) for data in files.values())
    if unpacked > MAX_TOTAL_BYTES:
        raise InputError(f"The bundle would unpack to {unpacked / 1e6:,.0f} MB; Lumen imports bundles of up to "
                         f"{MAX_TOTAL_BYTES / 1e6:,.0f} MB unpacked. {_TOO_BIG_ADVICE}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest_bytes)
        for name, data in files.items():
            zf.writestr(name, data)
    data = buf.getvalue()
    limit = limits.max_upload_mb() if max_upload_mb is None else max_upload_mb
    if len(data) > limit * limits.MB:
        raise InputError(f"The bundle is {len(data) / limits.MB:,.1f} MB; Lumen imports bundles of up to {limit:,} MB "
                         f"(server.maxUploadSize). {_TOO_BIG_ADVICE}")
    return data


def _arrays_npz(arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **{f"array_{k:03d}": a for k, a in enumerate(arrays)})
    return buf.getvalue()


MAX_VIEW_VALUES = 10_000_000  # numbers in all of a bundle's dataset views together (a mean map is at most 64 × 64)


def _view(entry: dict, members: dict[str, bytes], budget: list[int]) -> DatasetView:
    """A dataset view back from the manifest and its NPZ (no pickles; its values counted against ``budget`` from
    the declared sizes, before anything is unpacked)."""
    data = members[entry["arrays"]]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile:
        raise InputError("A dataset view's arrays in the bundle are not a readable NPZ file.") from None
    if declared > 8 * budget[0] + 4096:
        raise InputError(f"The bundle's dataset views hold over {MAX_VIEW_VALUES:,} values; it is refused.")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        names = sorted(npz.files)
        if names != [f"array_{k:03d}" for k in range(len(names))]:
            raise InputError("A dataset view's arrays in the bundle are not named as Lumen writes them.")
        arrays = []
        for name in names:
            array = npz[name]
            budget[0] -= array.size
            if budget[0] < 0:
                raise InputError(f"The bundle's dataset views hold over {MAX_VIEW_VALUES:,} values; it is refused.")
            arrays.append(array)
    return DatasetView(str(entry["kind"]), str(entry["title"]), list(entry["names"]), arrays,
                       list(entry.get("counts") or []), dict(entry.get("options") or {}), str(entry.get("source", "")))


def _npz(ex: Explanation) -> bytes:
    arrays = {"scores": ex.scores}
    arrays.update({f"extra_{k}": v for k, v in ex.extras.items() if isinstance(v, np.ndarray) and v.dtype != object})
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def _input_files(folder: str, x) -> dict[str, bytes]:
    if isinstance(x, np.ndarray):
        return {f"{folder}/input.png": encode_png(x)}
    if isinstance(x, list):
        return {f"{folder}/input_{k:03d}.png": encode_png(a) for k, a in enumerate(x)}
    if isinstance(x, str):
        return {f"{folder}/input.txt": x.encode("utf-8")}
    return {f"{folder}/input.json": json.dumps(x, ensure_ascii=False).encode("utf-8")}


def _figures(folder: str, item: ReportItem) -> dict[str, bytes]:
    """The PNG of every view that has one (the overlay, the matrix, the concept crops), as the PDF prints it."""
    out = {}
    for view in views(item):
        png = renderer(view.kind).png
        if png is not None:
            out[f"{folder}/figure_{view.kind}.png"] = png(view.data)
    return out


# ---------------------------------------------------------------- reading


def read_bundle(data: bytes, max_total_bytes: int = MAX_TOTAL_BYTES) -> Report:
    """A report back from bundle bytes, exactly as written. Nothing is written to disk."""
    members = _read_members(data, max_total_bytes)
    _check_json_values(members)
    if MANIFEST not in members:
        raise InputError("This ZIP is not a Lumen report bundle: it has no manifest.json.")
    try:
        manifest = json.loads(members.pop(MANIFEST).decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
        raise InputError("The bundle's manifest.json is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError("This ZIP is not a Lumen report bundle: its manifest names another format.")
    if manifest.get("version") != VERSION:
        raise InputError(f"This report bundle has version {shown(manifest.get('version'))}; "
                         f"this Lumen reads version {VERSION}.")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not isinstance(manifest.get("items"), list):
        raise InputError("The bundle's manifest is incomplete: it lacks its list of files or of items.")
    for name in members:
        if name not in listed:
            raise InputError(f"The bundle holds a file its manifest does not list ({shown(name)}).")
    for name, digest in listed.items():
        if name not in members:
            raise InputError(f"The bundle's manifest lists a file that is missing ({shown(name)}).")
        if _sha256(members[name]) != digest:
            raise InputError(f"The bundle's file {shown(name)} does not match its SHA-256 in the manifest: "
                             "it was changed or damaged.")
    try:
        _check_references(manifest["items"], members)
        items = [_item(entry, members) for entry in manifest["items"]]
        budget = [MAX_VIEW_VALUES]
        views = [_view(entry, members, budget) for entry in manifest.get("views") or []]
        return Report(str(manifest.get("title", "")), items, dict(manifest.get("environment") or {}), views)
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as err:
        raise InputError(f"The bundle's manifest or an explanation in it is invalid ({reason(err)}).") from None


def _check_json_values(members: dict[str, bytes]) -> None:
    """Before any JSON is parsed: its values, counted by their separators and brackets, stay within
    MAX_JSON_VALUES in all the bundle's JSON files together. A megabyte of zipped ``[0,0,0,...`` would
    otherwise become gigabytes of Python objects; Lumen writes arrays as base64 strings, which have none."""
    n = sum(data.count(b",") + data.count(b"[") + data.count(b"{")
            for name, data in members.items() if name.endswith(".json"))
    if n > MAX_JSON_VALUES:
        raise InputError(f"The bundle's JSON files hold over {MAX_JSON_VALUES:,} values ({n:,}); Lumen writes far "
                         "fewer (arrays go in as base64), so this bundle is refused.")


def _references(entry: dict) -> list[str]:
    return [entry["explanation"], *entry["input"]["files"]]


def _check_references(entries: list, members: dict[str, bytes]) -> None:
    """Before anything is decoded: every file is used by one item only (Lumen writes it so; a manifest naming one
    image N times would decode it N times), and the input images' headers add up to at most MAX_TOTAL_PIXELS."""
    seen, sizes = set(), []
    for entry in entries:
        for name in _references(entry):
            if name in seen:
                raise InputError(f"The bundle's manifest uses the file {shown(name)} for more than one item; "
                                 "Lumen writes each item's files once, so this bundle is refused.")
            seen.add(name)
        if entry["input"]["kind"] in ("image", "images"):
            for name in entry["input"]["files"]:
                sizes.append(_png(members[name]).size)
    check_total_pixels(sizes, f"The bundle's {len(sizes)} input images")


def _png(data: bytes, load: bool = False) -> Image.Image:
    try:
        return open_image(data, formats=["PNG"], load=load)
    except InputError as err:
        raise InputError(f"An input image in the bundle is not a readable PNG: {err}") from None
    except Exception as err:  # noqa: BLE001 - any other decoding failure is a damaged bundle too
        raise InputError(f"An input image in the bundle is not a readable PNG ({reason(err)}).") from None


def _item(entry: dict, members: dict[str, bytes]) -> ReportItem:
    ex = Explanation.from_json(members[entry["explanation"]].decode("utf-8"))
    kind, files = entry["input"]["kind"], entry["input"]["files"]
    if kind == "image":
        x = _image(members[files[0]])
    elif kind == "images":
        x = [_image(members[f]) for f in files]
    elif kind == "text":
        x = members[files[0]].decode("utf-8")
    elif kind == "row":
        x = json.loads(members[files[0]].decode("utf-8"))
    else:
        raise InputError(f"The bundle has an input of unknown kind {shown(kind)}.")
    agreement = Agreement.from_dict(entry["agreement"]) if entry.get("agreement") is not None else None
    model = ModelIdentity(**{k: entry["model"].get(k) for k in ("name", "source", "sha256", "sha256_of")})
    return ReportItem(ex, x, model, [tuple(p) for p in entry.get("prediction", [])], dict(entry.get("metrics") or {}),
                      agreement, entry.get("input_name"), entry.get("view_options") or {})


def _image(data: bytes) -> np.ndarray:
    with _png(data, load=True) as img:
        return np.asarray(img).copy()


_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\0" in name or _DRIVE.match(name):
        return False
    return all(part not in ("", "..") for part in PurePosixPath(name).parts) and not name.endswith("/")


def _read_members(data: bytes, max_total_bytes: int) -> dict[str, bytes]:
    """Every member into memory, after checking names and declared sizes; reading stops at the declared size."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - BadZipFile, an unsupported version, a bad seek...: not readable
        raise InputError("This file is not a readable ZIP archive.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise InputError(f"The bundle holds more than {MAX_MEMBERS} files; it is refused.")
        for info in infos:
            if not _safe_name(info.filename):
                raise InputError(f"The bundle holds an unsafe file name ({shown(info.filename)}): absolute paths, "
                                 "'..' and backslashes are refused.")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise InputError("The bundle holds two files with the same name; it is refused.")
        total = sum(info.file_size for info in infos)
        if total > max_total_bytes:
            raise InputError(f"The bundle would unpack to {total / 1e6:.0f} MB, over the limit of "
                             f"{max_total_bytes / 1e6:.0f} MB; it is refused.")
        members = {}
        for info in infos:
            members[info.filename] = _read_member(zf, info)
        return members


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    out = bytearray()
    try:
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                out += chunk
                if len(out) > info.file_size:
                    raise InputError(f"The bundle's file {shown(info.filename)} unpacks beyond its declared size "
                                     "(a zip bomb?); it is refused.")
    except InputError:
        raise
    except zipfile.BadZipFile as err:  # zipfile stops at the declared size, so a bomb ends here on its CRC
        raise InputError(f"The bundle's file {shown(info.filename)} is damaged or unpacks beyond its declared size "
                         f"({reason(err)}); it is refused.") from None
    except Exception as err:  # noqa: BLE001 - zlib.error and friends: a damaged archive
        raise InputError(f"The bundle's file {shown(info.filename)} cannot be read ({reason(err)}).") from None
    return bytes(out)
