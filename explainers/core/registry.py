"""The method registry: an explainer is one function plus one ``@register`` line."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from explainers.core.modality import get_modality
from models.errors import ExplainerError

# cost(params, model=None, **sizes) -> (n_forward, n_backward), the one signature of every method's cost;
# sizes such as n_tokens or n_prompt come from the input, and a cost reads those it needs with a default
Cost = Callable[..., tuple[int, int]]
# (params, model, **sizes) -> bytes: the run's peak memory, estimated before it runs (explainers/core/budget.py)
Memory = Callable[..., int]
# name -> largest value, or (smallest, largest) with None for no bound on that side
Limits = dict[str, "int | float | tuple[int | float | None, int | float | None]"]


@dataclass(frozen=True)
class SharedPass:
    """Passes several methods of one family can share on one input and target (``register(..., shares=...)``).

    ``compute(model, data, target, **keys) -> (passes, target_index)`` makes them once; each member's function
    takes the result as ``passes=`` (keyword) instead of making them itself, so a map computed from a shared
    pass is the one computed alone by construction. ``keys``: the parameters that must be equal for members to
    share (e.g. the layer); the members' other parameters (noise, seed) stay their own.

    ``batch``, optional: ``batch(model, inputs, targets, **keys) -> [(passes, target_index), ...]``, the same
    passes for several prepared inputs (of any sizes; ``targets[i]`` a class index or None) made at once — one
    forward of the stack and one backward of the sum of each row's target output, rows being independent in eval
    mode — each item what ``compute`` gives for that input alone. ``explain_batch`` explains a batch of inputs
    this way for every method that declares such a pass; the others run per input.
    """

    name: str
    keys: tuple[str, ...]
    compute: Callable
    batch: Callable | None = None


@dataclass(frozen=True)
class Method:
    id: str
    modality: str
    family: str
    fn: Callable
    cost: Cost  # shown to the user before running
    defaults: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    signed: bool = False  # scores keep their sign (in [-1, 1]); otherwise they lie in [0, 1]
    choices: dict[str, tuple] = field(default_factory=dict)  # allowed values of categorical params
    many: bool = False  # explains a set of inputs at once (a list); its cost is then per input
    # holds the model's lock for its whole run (hooks, module state); False: only forward passes, each locked
    exclusive: bool = True
    limits: dict[str, tuple] = field(default_factory=dict)  # numeric params: name -> (smallest or None, largest)
    # (the largest is enforced here; the smallest bounds the page's widgets, and the method refuses less itself)
    memory: Memory | None = None  # peak bytes of a run; None: only the model's own passes (explainers/core/budget.py)
    requires: Callable[[Any], bool] | None = None  # requires(model): the method fits this model (see applies_to)
    shares: SharedPass | None = None  # passes it can share with other methods (explain_many); None: its own
    # row_groups(params, model=None, **sizes) -> [(rows, batch, tokens), ...]: how a forward-only language-model
    # method's passes go (rows of that length in batches of that size; batch None: the engine's), when not as rows of
    # the prompt and continuation at the engine's batch (cost.run_seconds); None: as those
    row_groups: Callable | None = None
    # what its estimate is when its passes depend on the data ("typical", "at most"), said beside the estimate
    estimate_note: str = ""
    # its backward passes all run, one at a time, on the graph of its forward passes (lm-neurons: one forward of the
    # prompt and continuation, one backward per continuation token): timed as forwards and backwards at batch 1
    one_graph: bool = False

    def share_key(self, params: dict[str, Any]) -> tuple | None:
        """Methods whose keys are equal (for resolved ``params``) can share one pass on one input and target."""
        if self.shares is None:
            return None
        return (self.shares.name, *(repr(params.get(k)) for k in self.shares.keys))

    def applies_to(self, model) -> bool:
        """Whether this method can explain ``model``: the model's modality; a method with a ``layer`` parameter
        needs a model that exposes its layers (not TorchScript); and the method's own ``requires(model)``
        (TreeSHAP: a tree ensemble)."""
        if getattr(model, "modality", None) != self.modality:
            return False
        if "layer" in self.defaults and not getattr(model, "supports_layers", True):
            return False  # no hooks on a TorchScript module
        return self.requires is None or bool(self.requires(model))

    @property
    def batches(self) -> bool:
        """Explains several inputs per pass in ``explain_batch``: its ``SharedPass`` has a ``batch`` form."""
        return self.shares is not None and self.shares.batch is not None

    @property
    def explains_one_input(self) -> bool:
        """Explains one input (not a set of them, not the model as a whole): a page's and Compare's kind."""
        return not self.many and self.family != "global"

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise ExplainerError(f"{self.id} has no parameter {', '.join(unknown)} (parameters: {allowed}).")
        resolved = {**self.defaults, **params}
        for name, allowed in self.choices.items():
            if resolved[name] not in allowed:
                raise ExplainerError(
                    f"Unknown {name} '{resolved[name]}' for {self.id}. Choose one of: {', '.join(map(str, allowed))}."
                )
        for name, (low, high) in self.limits.items():
            value = resolved[name]
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                continue  # None means "the method chooses"; a value of the wrong type is the method's to refuse
            if high is not None and value > high:  # below the smallest, the method's own check says why
                raise ExplainerError(f"{self.id}: {name} {_number(value)} is above its maximum, {_number(high)}.")
        return resolved

    def estimate(self, params: dict[str, Any] | None = None, model=None, **sizes: int) -> tuple[int, int]:
        """Passes this method makes with ``params``; some costs depend on the model (e.g. its layer's channels)
        or on the input's size (``sizes``: a text's ``n_tokens``, a prompt's ``n_prompt`` and ``n_target``; ``targeted``: 1 when the class to explain is given, so no pass need find it)."""
        return self.cost(self.resolve_params(params or {}), model, **sizes)

    def estimate_memory(self, params: dict[str, Any] | None = None, model=None, **sizes: int) -> int:
        """Peak bytes a run with ``params`` needs on ``model`` for an input of ``sizes`` (explainers/core/budget.py)."""
        from explainers.core.budget import run_memory

        return run_memory(self, self.resolve_params(params or {}), model, **sizes)


def _number(value) -> str:
    """1,000 for whole numbers, 0.25 for others: how limits are written in sentences."""
    return f"{int(value):,}" if float(value).is_integer() else f"{float(value):g}"


def _limits(id: str, defaults: dict[str, Any], limits: Limits | None) -> dict[str, tuple]:
    out = {}
    for name, bound in (limits or {}).items():
        if name not in defaults:
            raise ValueError(f"{id}: a limit for {name}, which is not a parameter")
        out[name] = tuple(bound) if isinstance(bound, (tuple, list)) else (None, bound)
    return out


SEED = (0, 2**32 - 1)  # the limits of every ``seed``: what numpy and torch generators all accept

_METHODS: dict[tuple[str, str], Method] = {}


def register(
    id: str,
    modality: str,
    family: str,
    cost: Cost,
    defaults: dict[str, Any] | None = None,
    signed: bool = False,
    choices: dict[str, tuple] | None = None,
    many: bool = False,
    exclusive: bool = True,
    limits: Limits | None = None,
    memory: Memory | None = None,
    wrap: Callable[[Callable, str], Callable] | None = None,
    requires: Callable[[Any], bool] | None = None,
    shares: SharedPass | None = None,
    row_groups: Callable | None = None,
    estimate_note: str = "",
    one_graph: bool = False,
):
    """Register ``fn(model, x, target, **params) -> (scores, target_index[, fields])`` under ``id``.

    The one way to add a method: ``@register(...)`` on its function, in a module listed in
    explainers/methods.py (or named by the ``LUMEN_PLUGINS`` environment variable).

    ``x`` is the prepared input (an H×W×3 uint8 array for images), ``target`` a class
    index or None for the top class; the first docstring line is the summary shown to users.
    ``fields``, optional: other ``Explanation`` fields the method fills (tokens,
    target_tokens, feature_names, base_value, extras, target_label).
    ``exclusive=False`` only for a method that installs no hook and changes no module state, whose
    every pass goes through the adapter's locked ``forward``: it then runs beside other runs.
    ``limits``: the largest value (or (smallest, largest)) of each numeric parameter; ``resolve_params``
    refuses others before anything runs (tests/unit/test_run_budget.py checks every numeric parameter has one).
    ``memory``: ``memory(params, model, **sizes) -> bytes`` the run's peak (explainers/core/budget.py).
    ``cost``: ``cost(params, model=None, **sizes) -> (n_forward, n_backward)``, checked here.
    ``wrap``: a family's builder, ``wrap(fn, id) -> method function``, for families whose members are small
    rules on a shared mechanism (the gradient CAMs, the Captum gradients): the decorated ``fn`` stays the
    rule, the method runs ``wrap(fn, id)``; the summary is ``fn``'s.
    ``requires(model) -> bool``: the models the method fits, beyond its modality and the layer rule
    (``Method.applies_to``); pages, Compare and the command line offer it only for those.
    ``shares``: a ``SharedPass`` the method's function accepts as ``passes=`` (keyword): ``explain_many`` then
    makes those passes once for all the chosen methods that share them (the gradient CAMs: one forward and one
    backward to the layer); a ``SharedPass`` with a ``batch`` form also lets ``explain_batch`` explain several
    inputs per forward and backward.
    ``row_groups(params, model=None, **sizes) -> [(rows, batch, tokens), ...]``: a forward-only language-model method
    whose rows are shorter than the prompt and its continuation, or go in smaller batches (ReAGent's), says so, so
    that its estimate times them as they go.
    ``estimate_note``: a method whose passes depend on the data says what its estimate is ("typical", "at most"),
    shown beside the estimate.
    ``one_graph``: the method's backward passes run one at a time on its forward passes' graph (no forward each),
    so its estimate times ``n_forward`` forwards and ``n_backward`` backwards at batch 1.
    """
    _check_cost(id, cost)

    def decorate(fn):
        summary = (fn.__doc__ or "").strip().split("\n")[0]
        method = Method(
            id, modality, family, fn if wrap is None else wrap(fn, id), cost, dict(defaults or {}), summary, signed,
            dict(choices or {}), many, exclusive, _limits(id, dict(defaults or {}), limits), memory, requires,
            shares, row_groups, estimate_note, one_graph,
        )
        if shares is not None and "passes" not in inspect.signature(method.fn).parameters:
            raise TypeError(f"{id}: a method that shares passes takes them as its function's ``passes=`` keyword")
        _METHODS[(modality, id)] = method
        return fn

    return decorate


def _check_cost(id: str, cost: Cost) -> None:
    """Refuse a cost that is not ``cost(params, model=None, **sizes)``: every caller passes sizes it may not use."""
    try:
        parameters = list(inspect.signature(cost).parameters.values())
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to read
    plain = [p for p in parameters if p.kind is not p.VAR_KEYWORD]
    ok = (
        len(plain) == 2
        and all(p.kind is p.POSITIONAL_OR_KEYWORD for p in plain)
        and plain[1].default is None
        and len(parameters) == 3
    )
    if not ok:
        found = inspect.signature(cost)
        raise TypeError(f"{id}: its cost must read cost(params, model=None, **sizes), not cost{found}")


def share_groups(modality: str, methods: dict[str, dict]) -> list[list[str]]:
    """The groups (two or more, in the order of ``methods``) of chosen methods that can share their passes on one
    input and target: same ``SharedPass``, equal key parameters (``Method.share_key``). A method whose
    parameters it refuses shares nothing."""
    groups: dict[tuple, list[str]] = {}
    for method, params in methods.items():
        spec = get_method(method, modality)
        try:
            key = spec.share_key(spec.resolve_params(dict(params or {})))
        except ExplainerError:
            key = None  # parameters it refuses: it runs alone and says why
        if key is not None:
            groups.setdefault(key, []).append(method)
    return [members for members in groups.values() if len(members) > 1]


def list_explainers(modality: str | None = None) -> list[str]:
    """Method ids, in registration order, optionally for one modality."""
    return [m.id for (mod, _), m in _METHODS.items() if modality in (None, mod)]


def get_method(id: str, modality: str) -> Method:
    try:
        return _METHODS[(modality, id)]
    except KeyError:
        available = ", ".join(list_explainers(modality)) or "none yet"
        raise ExplainerError(f"No {modality} explainer named '{id}'. Available: {available}.") from None


# families whose scores say what a person could change, not what drove the prediction (recourse: responsiveness):
# their page gives them a place of their own (with the action set they need); they are not offered as explainers,
# in Compare (whose figures measure attributions) or in dataset jobs
OWN_PLACE = frozenset({"recourse"})


def methods_for(model, *, baseline: bool = True, own_place: bool = False) -> list[Method]:
    """The methods that explain one input of ``model`` and apply to it (``Method.applies_to``), in registration
    order: what a page offers. ``baseline=False`` leaves out the random baseline (Compare adds it itself);
    ``own_place=True`` keeps the families of ``OWN_PLACE``."""
    return [m for (mod, _), m in _METHODS.items() if mod == getattr(model, "modality", None)
            and m.explains_one_input and m.applies_to(model) and (baseline or m.family != "baseline")
            and (own_place or m.family not in OWN_PLACE)]


def default_method(model) -> str:
    """THE default method for ``model``: the first of its modality's ``default_methods`` that applies to it,
    else the first listed method that does."""
    offered = methods_for(model, baseline=False)
    for method in get_modality(model.modality).default_methods:
        if any(m.id == method for m in offered):
            return method
    if not offered:
        raise ExplainerError(f"No {model.modality} method applies to {getattr(model, 'name', 'this model')}.")
    return offered[0].id


def default_methods(model) -> list[str]:
    """The methods Compare starts with for ``model``: those of ``default_methods`` that apply to it
    (THE default first), or THE default alone when none does."""
    offered = {m.id for m in methods_for(model, baseline=False)}
    chosen = [m for m in get_modality(model.modality).default_methods if m in offered]
    return chosen or [default_method(model)]
