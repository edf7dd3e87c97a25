"""A report: an ordered list of explanations, each with its input, model, prediction and metrics.

``Report`` is what the HTML, PDF and bundle exports take; ``read_bundle`` gives one back.
"""

from __future__ import annotations

import datetime
import hashlib
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Union

import numpy as np

from explainers.core.explanation import Explanation
from explainers.core.modality import headline
from models.errors import InputError

# An image (H×W×3 uint8), a set of images (CRAFT), a text (classification or prompt) or a table row.
ReportInput = Union[np.ndarray, list, str, dict]

PACKAGES = ("torch", "captum", "shap", "transformers", "streamlit", "numpy", "plotly", "fpdf2", "ray")
HASH_OF_FILE = "weights file"
HASH_OF_PARAMETERS = "parameters (state dict)"


@dataclass
class ModelIdentity:
    """Which model made the explanation. ``sha256_of`` says what was hashed (a file or the parameters)."""

    name: str
    source: str = ""
    sha256: str | None = None
    sha256_of: str | None = None  # HASH_OF_FILE, HASH_OF_PARAMETERS or None when nothing could be hashed

    def to_dict(self) -> dict[str, Any]:
        return dict(name=self.name, source=self.source, sha256=self.sha256, sha256_of=self.sha256_of)


@dataclass
class Agreement:
    """Pairwise agreement between explanations of one input: ``matrix[i, j]`` for ``methods[i]``, ``methods[j]``."""

    methods: list[str]
    matrix: np.ndarray
    metric: str

    def __post_init__(self):
        self.methods = [str(m) for m in self.methods]
        self.matrix = np.asarray(self.matrix, dtype=np.float64)
        if self.matrix.shape != (len(self.methods), len(self.methods)):
            raise InputError(f"An agreement matrix of {len(self.methods)} methods must be square of that size; "
                             f"got shape {self.matrix.shape}.")

    def to_dict(self) -> dict[str, Any]:
        return dict(methods=list(self.methods), matrix=self.matrix.tolist(), metric=self.metric)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Agreement":
        return cls(methods=d["methods"], matrix=np.array(d["matrix"], dtype=np.float64).reshape(
            len(d["methods"]), len(d["methods"])), metric=str(d["metric"]))

    def same_as(self, other: "Agreement") -> bool:
        return (self.metric == other.metric and self.methods == other.methods
                and np.array_equal(self.matrix, other.matrix, equal_nan=True))


@dataclass
class ReportItem:
    """One explanation with its context. ``prediction``: (class index, label, probability), best first."""

    explanation: Explanation
    input: ReportInput
    model: ModelIdentity
    prediction: list[tuple[int | None, str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # headline figures; {}: those of explanation.faithfulness
    agreement: Agreement | None = None
    input_name: str | None = None  # the uploaded file's name, when there is one
    view_options: dict[str, dict] = field(default_factory=dict)  # {figure kind: options} as the page drew it

    def __post_init__(self):
        self.input = _normalise_input(self.input)
        self.view_options = checked_view_options(self.view_options)
        self.prediction = [(None if i is None else int(i), str(label), float(p)) for i, label, p in self.prediction]
        self.metrics = {str(k): float(v) for k, v in (self.metrics or headline(self.explanation)).items()}

    @property
    def nbytes(self) -> int:
        """Roughly the memory its input, scores and extras take: what bounds a session's report."""
        e = self.explanation
        return _nbytes(self.input) + e.scores.nbytes + _nbytes(e.extras) + _nbytes(e.tokens)

    @property
    def input_kind(self) -> str:
        """"image", "images", "text" or "row"."""
        return input_kind(self.input)


DATASET_VIEW_KINDS = ("mean_maps", "distribution", "ranked_bars")  # the figure kinds a dataset view is drawn as
MAX_VIEW_GROUPS = 200  # classes, methods or features of one dataset view


@dataclass
class DatasetView:
    """A figure over a whole dataset job (the Datasets page): per-class mean maps, a distribution per method, a
    global importance. It holds what its renderer's ``prepare`` takes, as names and arrays (so a bundle keeps it):
    ``names[i]`` with ``arrays[i]`` (a class's mean map, a method's values) and ``counts[i]`` (inputs averaged); a
    ranked bar chart has one array, the values of its ``names``. ``options``: ``value_title``, ``better``, ``style``
    (distribution), ``x_title`` (bars). ``source``: the job it summarises, in words."""

    kind: str
    title: str
    names: list[str]
    arrays: list[np.ndarray]
    counts: list[int] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        if self.kind not in DATASET_VIEW_KINDS:
            raise InputError(f"A dataset view is drawn as one of {', '.join(DATASET_VIEW_KINDS)}, not "
                             f"{str(self.kind)[:40]!r}.")
        self.title, self.source = str(self.title), str(self.source)
        self.names = [str(n) for n in self.names]
        self.arrays = [np.asarray(a, dtype=np.float32 if self.kind == "mean_maps" else np.float64) for a in self.arrays]
        self.counts = [int(c) for c in self.counts]
        wanted = 1 if self.kind == "ranked_bars" else len(self.names)
        if len(self.arrays) != wanted or not 0 < len(self.names) <= MAX_VIEW_GROUPS:
            raise InputError(f"A {self.kind} view needs {wanted} array(s) for its {len(self.names)} names "
                             f"(at most {MAX_VIEW_GROUPS}); it has {len(self.arrays)}.")
        if self.kind == "ranked_bars" and self.arrays[0].shape != (len(self.names),):
            raise InputError("A ranked bar view needs one value per name.")
        if self.kind == "mean_maps" and (len(self.counts) != len(self.names) or any(a.ndim != 2 for a in self.arrays)):
            raise InputError("A mean-map view needs one 2-D map and one count per class.")
        known = {"value_title", "better", "style", "x_title"}
        if not isinstance(self.options, dict) or set(self.options) - known:
            raise InputError(f"A dataset view's options are among {', '.join(sorted(known))}.")
        self.options = {k: None if v is None else str(v) for k, v in self.options.items()}

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def prepared(self):
        """The renderer's display data of this view."""
        from reports.figures import renderer
        from reports.figures.ranked_bars import magnitude_bars

        o = self.options
        if self.kind == "mean_maps":
            return renderer("mean_maps").prepare(list(zip(self.names, self.arrays, self.counts)), self.title)
        if self.kind == "distribution":
            return renderer("distribution").prepare(dict(zip(self.names, self.arrays)), self.title,
                                                    o.get("value_title") or "value", o.get("better"),
                                                    o.get("style") or "box")
        return magnitude_bars(self.names, self.arrays[0], self.title, x_title=o.get("x_title") or "mean |score|")


@dataclass
class Report:
    title: str
    items: list[ReportItem]
    environment: dict[str, Any] = field(default_factory=dict)
    views: list[DatasetView] = field(default_factory=list)  # figures over whole dataset jobs, after the items

    def agreements(self) -> list[tuple[Agreement, list[int]]]:
        """Distinct agreement matrices, each with the (0-based) items that carry it."""
        found: list[tuple[Agreement, list[int]]] = []
        for i, item in enumerate(self.items):
            if item.agreement is None:
                continue
            for agreement, owners in found:
                if agreement.same_as(item.agreement):
                    owners.append(i)
                    break
            else:
                found.append((item.agreement, [i]))
        return found


def _percentile(v) -> float:
    v = float(v)
    if not 0 < v <= 100:
        raise ValueError(f"a percentile in (0, 100]; got {v}")
    return v


def _opacity(v) -> float:
    v = float(v)
    if not 0 <= v <= 1:
        raise ValueError(f"an opacity in [0, 1]; got {v}")
    return v


def _colormap(v) -> str:
    from reports.figures.colour_scales import COLORMAPS

    if v not in COLORMAPS:
        raise ValueError(f"a colour map of {', '.join(COLORMAPS)}; got {v!r}")
    return str(v)


def _flag(v) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"true or false; got {v!r}")
    return v


# The view options a report item may carry (they come back from bundles, so each is checked): per figure kind,
# the keyword arguments of its renderer's prepare that a page sets, each with its check.
VIEW_OPTIONS = {
    "image_overlay": {"colormap": _colormap, "opacity": _opacity, "magnitude": _flag, "percentile": _percentile},
    "generation_matrix": {"percentile": _percentile},
    "ranked_bars": {"magnitude": _flag},
}


def checked_view_options(options) -> dict[str, dict]:
    """``options`` ({figure kind: {option: value}}) with every value checked against ``VIEW_OPTIONS``; an
    ``InputError`` names the first option that is unknown or out of range."""
    out: dict[str, dict] = {}
    for kind, values in dict(options or {}).items():
        if kind not in VIEW_OPTIONS or not isinstance(values, dict):
            raise InputError(f"A report item's view options name an unknown figure kind ({str(kind)[:40]!r}).")
        out[kind] = {}
        for name, value in values.items():
            check = VIEW_OPTIONS[kind].get(name)
            if check is None:
                raise InputError(f"A report item's {kind} options hold an unknown option ({str(name)[:40]!r}).")
            try:
                out[kind][name] = check(value)
            except (TypeError, ValueError) as err:
                raise InputError(f"A report item's {kind} option {name} must be {err}.") from None
    return out


def known_view_options(options) -> dict[str, dict]:
    """The options of ``options`` a report can draw again (those ``VIEW_OPTIONS`` names); a page may pass more."""
    return {kind: {k: v for k, v in values.items() if k in VIEW_OPTIONS[kind]}
            for kind, values in (options or {}).items() if kind in VIEW_OPTIONS and isinstance(values, dict)}


def input_kind(x) -> str:
    if isinstance(x, np.ndarray):
        return "image"
    if isinstance(x, list):
        return "images"
    if isinstance(x, str):
        return "text"
    if isinstance(x, dict):
        return "row"
    raise InputError(f"A report input must be an image array, a list of images, a text or a table row; "
                     f"got {type(x).__name__}.")


def _normalise_input(x):
    kind = input_kind(x)
    if kind == "image":
        return _check_image(x)
    if kind == "images":
        if not x:
            raise InputError("A report input given as a list of images must hold at least one image.")
        return [_check_image(np.asarray(a)) for a in x]
    if kind == "row":
        return {str(k): v.item() if isinstance(v, np.generic) else v for k, v in x.items()}
    return x


def _nbytes(x) -> int:
    if isinstance(x, np.ndarray):
        return x.nbytes
    if isinstance(x, str):
        return len(x)
    if isinstance(x, dict):
        return sum(_nbytes(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return sum(_nbytes(v) for v in x)
    return 0


def _check_image(a: np.ndarray) -> np.ndarray:
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InputError(f"A report image must be an H×W×3 (or ×4, or H×W) uint8 array; got {a.dtype} {a.shape}.")
    return a


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parameters_sha256(module_or_state_dict) -> str:
    """SHA-256 over a state dict: names in sorted order, each with its dtype, shape and raw bytes.

    Independent of the device, of dict order and of memory layout; identical weights give
    identical hashes, a change in any value, name, dtype or shape gives another.
    """
    import torch

    state = module_or_state_dict.state_dict() if hasattr(module_or_state_dict, "state_dict") else module_or_state_dict
    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        h.update(name.encode("utf-8") + b"\0")
        if isinstance(value, torch.Tensor):
            t = value.detach().to("cpu").contiguous()
            h.update(f"{t.dtype}|{tuple(t.shape)}\0".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:  # rare non-tensor entries (extra state)
            h.update(repr(value).encode("utf-8") + b"\0")
    return h.hexdigest()


def model_identity(model, source: str = "", weights=None) -> ModelIdentity:
    """The model's name, where it came from, and a SHA-256: of ``weights`` (a file path) when
    given (or the model's ``weights_path`` attribute), else of its parameters."""
    name = str(getattr(model, "name", type(model).__name__))
    path = weights if weights is not None else getattr(model, "weights_path", None)
    if path is not None and Path(path).is_file():
        return ModelIdentity(name, source, file_sha256(path), HASH_OF_FILE)
    module = getattr(model, "module", model)
    if hasattr(module, "state_dict"):
        return ModelIdentity(name, source, parameters_sha256(module), HASH_OF_PARAMETERS)
    return ModelIdentity(name, source)


def has_prediction(model, x) -> bool:
    """Whether a report item shows the model's prediction on ``x``: a set of images has no one prediction; a
    language model's is its continuation, in the explanation."""
    return hasattr(model, "predict") and not isinstance(x, list)


def make_item(model, x, explanation: Explanation, *, source: str = "", weights=None, top_k: int = 5,
              agreement: Agreement | None = None, input_name: str | None = None,
              identity: ModelIdentity | None = None, prediction=None,
              view_options: dict[str, dict] | None = None) -> ReportItem:
    """A report item from what a page has: the model, its input and the explanation.

    The prediction is the model's top ``top_k`` on ``x`` (none for a set of images or a language model): pass
    ``prediction`` (the model's ``Prediction`` on ``x``) when the caller has it, and the model does not run again.
    Pass ``identity`` to reuse one computed before (hashing parameters takes a moment). The item's metrics
    are the headline figures of ``explanation.faithfulness`` (explainers/core/modality.py ``headline``).
    ``view_options`` ({figure kind: options}): how the page drew it (colour map, opacity, clipping percentile), so
    that the exports look like the page; those a report cannot draw (not in ``VIEW_OPTIONS``) are left out.
    """
    predicts = has_prediction(model, x)
    if predicts and prediction is None:
        prediction = model.predict(x)
    prediction = list(prediction.top(top_k)) if predicts else []
    return ReportItem(explanation, x, identity or model_identity(model, source, weights), prediction,
                      {}, agreement, input_name, known_view_options(view_options))


def environment(explanations=(), device: str | None = None) -> dict[str, Any]:
    """Package versions, Lumen's git commit (when known), device, Python version and the seeds used."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    seeds: dict[str, list] = {}
    for e in explanations:
        if "seed" in e.params and e.params["seed"] not in seeds.setdefault(e.method, []):
            seeds[e.method].append(e.params["seed"])
    return {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "lumen_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device or _device(),
        "packages": versions,
        "seeds": {k: v for k, v in seeds.items() if v},
    }


def _device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda ({torch.cuda.get_device_name(0)})"
    except Exception:  # noqa: BLE001 - the environment is informative only
        pass
    return "cpu"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except Exception:  # noqa: BLE001 - no git, not a checkout: the commit is simply unknown
        return None


def new_report(title: str, items: list[ReportItem], device: str | None = None, views=()) -> Report:
    """A report with its environment collected now; ``views``: its dataset views (``DatasetView``)."""
    return Report(title, list(items), environment([item.explanation for item in items], device), list(views))
