"""One ``Modality`` spec per input kind: everything Lumen knows about an input kind, in one place.

A spec says how a caller's input becomes the prepared input every method receives (decoded, cleaned,
tokenised once), how big that input is for the cost and memory estimates, which methods are offered
first, how faithful an explanation is, which figures show it and how the command line reads inputs
from a path. Pages, Compare, the command line and reports ask the spec; nobody else branches on modality.

Each modality registers its spec with ``register_modality`` in its own package
(explainers/<kind>/modality.py); explainers/methods.py lists those modules once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from models.errors import ExplainerError, LumenError

# The figure kinds (one renderer each, in reports/figures/) a spec may name in ``figures``.
FIGURE_KINDS = ("image_overlay", "token_highlight", "ranked_bars", "generation_matrix", "waterfall", "concept_maps",
                "agreement_matrix", "faithfulness_curves", "neuron_path_ablation", "responsiveness",
                "interaction_heatmap")


def _no_sizes(model, x, target=None, params=None) -> dict[str, int]:
    return {}


def _no_faithfulness(model, x, e, **options) -> dict:
    return {}


def _no_passes(model, sizes: dict, **options) -> int:
    return 0


@dataclass(frozen=True)
class FigureOption:
    """An option of a modality's faithfulness figures (a keyword of its ``faithfulness``), as pages offer it:
    a checkbox when ``default`` is a bool, else a choice among ``choices``."""

    label: str
    default: Any
    choices: tuple = ()
    help: str = ""


def _class_explained(e):
    return e.target


def _no_reader(path: Path, model, note=None) -> list[tuple[str, Any]]:
    raise ExplainerError("The command line cannot read this kind of input from a file yet.")


def _no_items(path: Path, model, note=None) -> list:
    raise ExplainerError("Dataset jobs do not take this kind of model's inputs yet.")


def _no_item_loader(data: bytes, model):
    raise ExplainerError("Dataset jobs do not take this kind of model's inputs yet.")


@dataclass(frozen=True)
class Modality:
    """What Lumen knows about one input kind.

    ``prepare(x, model)``: a caller's input as the methods take it, made once per ``explain``/``compare`` call and
    handed to every method (and to the size estimates and the faithfulness figures); giving it a prepared input
    again returns it unchanged.
    ``sizes(model, prepared, target=None, params=None)``: the input's sizes the cost and memory estimates read
    (``n_images``, ``n_tokens``, ``n_prompt``/``n_target``, ``n_rows``); {} when the input is refused (the method
    then refuses it with its own sentence).
    ``default_methods``: the methods offered first, in order. THE default for a model (page, Compare, command
    line) is the first of them that applies to it; Compare starts with all of them that apply
    (``default_method``/``default_methods`` in explainers/core/registry.py).
    ``faithfulness(model, prepared, e, **options) -> {figure: float or list}``: the modality's faithfulness figures;
    ``faithfulness_options``: {keyword: ``FigureOption``}, the options it takes (pages offer them, ``compare`` passes
    them on); ``faithfulness_many(model, prepared, explanations, **options) -> [figures]``, optional: the figures of
    several explanations of one input measured together (their passes batched through the engine);
    ``faithfulness_passes(model, sizes, **options) -> int``: forward passes the figures of one explanation make
    (``sizes`` as ``sizes`` gives them), for the cost estimate before a comparison runs;
    ``better``: the headline figures (one number each) and which way each is better, in the order shown;
    ``units``: the unit of a figure that has one (``{"average_drop": "%"}``).
    ``figures``: the figure kinds (``FIGURE_KINDS``) that show this modality's explanations.
    ``read_path(path, model, note) -> [(name, input)]``: inputs from a file or folder (the command line);
    ``note(sentence)`` receives what was repaired on the way.
    ``read_items(path, model, note) -> [explainers.batch.reader.Item]``: a dataset job's inputs in a file or folder
    (each with its label, its key and its bytes; an unreadable one as an error item), listed on the driver;
    ``load_item(data, model)``: an item's bytes as the input its methods take, on a worker.
    ``target_kind``: what a target is, "class" (an index or a label) or "continuation" (a text, or token ids);
    ``explained_target(e)``: the target of ``e`` to give the next methods so that all explain the same thing
    (Compare): the class index, or the continuation's token ids.
    """

    id: str
    label: str  # for people: "Image", "Text", ...
    prepare: Callable[[Any, Any], Any]
    default_methods: tuple[str, ...]
    sizes: Callable[..., dict[str, int]] = _no_sizes
    faithfulness: Callable[..., dict] = _no_faithfulness
    faithfulness_options: dict[str, FigureOption] = field(default_factory=dict)
    faithfulness_many: Callable[..., list[dict]] | None = None
    faithfulness_passes: Callable[..., int] = _no_passes
    better: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # figure -> its unit ("%"), where it has one
    figures: tuple[str, ...] = ()
    read_path: Callable[..., list[tuple[str, Any]]] = _no_reader
    read_items: Callable[..., list] = _no_items
    load_item: Callable[[bytes, Any], Any] = _no_item_loader
    target_kind: str = "class"
    explained_target: Callable[[Any], Any] = _class_explained

    def __post_init__(self):
        unknown = [kind for kind in self.figures if kind not in FIGURE_KINDS]
        if unknown:
            raise ValueError(f"{self.id}: unknown figure kinds {unknown}; known: {', '.join(FIGURE_KINDS)}")
        if self.target_kind not in ("class", "continuation"):
            raise ValueError(f"{self.id}: target_kind must be 'class' or 'continuation', not {self.target_kind!r}")
        wrong = {k: v for k, v in self.better.items() if v not in ("lower", "higher")}
        if wrong:
            raise ValueError(f"{self.id}: 'better' must be 'lower' or 'higher', not {wrong}")


_MODALITIES: dict[str, Modality] = {}


def register_modality(spec: Modality) -> Modality:
    """Add (or replace) the spec of ``spec.id``; the order of registration is the order modalities are listed in."""
    _MODALITIES[spec.id] = spec
    return spec


def get_modality(id: str) -> Modality:
    try:
        return _MODALITIES[id]
    except KeyError:
        known = ", ".join(_MODALITIES) or "none yet"
        raise ExplainerError(f"No input handling for the {id} modality (known: {known}).") from None


def list_modalities() -> list[str]:
    """Modality ids, in registration order (image, text, generation, tabular)."""
    return list(_MODALITIES)


# ---------------------------------------------------------------- questions every caller asks the spec


def prepare_input(model, x):
    """``x`` as ``model``'s methods take it (see ``Modality.prepare``)."""
    return get_modality(model.modality).prepare(x, model)


def input_sizes(model, x, target=None, params: dict | None = None) -> dict[str, int]:
    """The sizes of ``x`` that estimates take (see ``Modality.sizes``); ``x`` raw or prepared."""
    spec = get_modality(model.modality)
    try:
        return spec.sizes(model, spec.prepare(x, model), target, params or {})
    except (LumenError, TypeError, ValueError, AttributeError):  # an input the model refuses: the method says why
        return {}


def figure_options(modality: str, options: dict | None) -> dict:
    """``options`` checked against ``modality``'s ``faithfulness_options`` (a sentence for an unknown one or a value
    outside its choices), with the defaults of those not given."""
    known = get_modality(modality).faithfulness_options
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ExplainerError(f"The {modality} faithfulness figures take no option {', '.join(map(repr, unknown))} "
                             f"(they take: {', '.join(known) or 'none'}).")
    for name, value in options.items():
        choices = known[name].choices
        if choices and value not in choices:
            raise ExplainerError(f"{known[name].label}: {value!r} is not one of {', '.join(map(str, choices))}.")
    return {name: options.get(name, option.default) for name, option in known.items()}


def faithfulness(model, x, e, *, progress=None, cancel=None, **options) -> dict:
    """Measure ``e``'s faithfulness figures (the modality's ``faithfulness``, with ``options``) on ``x``, raw or
    prepared, and keep them in ``e.faithfulness``, which is returned. ``progress(done, total)``: in forward passes,
    ``total`` the figures' passes known before they start (``faithfulness_passes``), never growing, ``(total,
    total)`` said at the end; ``cancel``: a ``threading.Event`` that stops them before their next batch."""
    from explainers.core.engine import finish, run_control

    spec = get_modality(e.modality)
    options = figure_options(e.modality, options)
    prepared = spec.prepare(x, model)
    if progress is None and cancel is None:  # an outer run_control (Compare's) sees these passes
        e.faithfulness = dict(spec.faithfulness(model, prepared, e, **options))
        return e.faithfulness
    total = None
    if progress is not None:
        total = int(spec.faithfulness_passes(model, input_sizes(model, prepared, spec.explained_target(e)), **options))
    with run_control(progress=progress, cancel=cancel, total=total):
        e.faithfulness = dict(spec.faithfulness(model, prepared, e, **options))
        finish()
    return e.faithfulness


def faithfulness_many(model, x, explanations: list, **options) -> list[dict]:
    """``faithfulness`` of several explanations of one input, measured together where the modality can (their
    passes batched through the engine: ``Modality.faithfulness_many``), each kept in its ``e.faithfulness``."""
    if not explanations:
        return []
    spec = get_modality(explanations[0].modality)
    options = figure_options(spec.id, options)
    prepared = spec.prepare(x, model)
    if spec.faithfulness_many is None or len(explanations) == 1:
        found = [spec.faithfulness(model, prepared, e, **options) for e in explanations]
    else:
        found = spec.faithfulness_many(model, prepared, list(explanations), **options)
    for e, figures in zip(explanations, found):
        e.faithfulness = dict(figures)
    return [e.faithfulness for e in explanations]


def faithfulness_passes(model, x, target=None, *, sizes: dict | None = None, **options) -> int:
    """Forward passes the faithfulness figures of one explanation of ``x`` make (with ``options``); ``sizes``
    (``input_sizes``), when given, stand for ``x`` (a continuation not generated yet: its length limit)."""
    spec = get_modality(model.modality)
    sizes = input_sizes(model, x, target) if sizes is None else sizes
    return int(spec.faithfulness_passes(model, sizes, **figure_options(spec.id, options)))


def headline(e) -> dict[str, float]:
    """The headline figures of ``e.faithfulness`` (one number each, in the spec's order): what reports show."""
    try:
        better = get_modality(e.modality).better
    except ExplainerError:  # an imported bundle of a modality this Lumen does not know
        return {}
    return {name: float(e.faithfulness[name]) for name in better if name in (e.faithfulness or {})}


class _Headline(Mapping):
    """{modality: (figure, "higher" | "lower")}: the one figure each modality's Compare table sorts by by default,
    the first of its spec's ``better`` (read when asked, so a spec registered later is included)."""

    def _specs(self) -> dict[str, Modality]:  # importing ``explainers`` registers every modality
        return {k: spec for k, spec in _MODALITIES.items() if spec.better}

    def __getitem__(self, modality: str) -> tuple[str, str]:
        spec = self._specs()[modality]
        return next(iter(spec.better.items()))

    def __iter__(self):
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())

    def __repr__(self) -> str:
        return repr(dict(self))


HEADLINE: Mapping[str, tuple[str, str]] = _Headline()


def better(modality: str) -> dict[str, str]:
    """{headline figure: "lower" | "higher"} of ``modality``."""
    return dict(get_modality(modality).better)
