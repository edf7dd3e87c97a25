"""The method registry: an explainer is one function plus one ``@register`` line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from models.errors import ExplainerError

# (params, model, **sizes) -> (n_forward, n_backward); sizes such as n_tokens or n_prompt come from the input
Cost = Callable[..., tuple[int, int]]


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
        return resolved

    def estimate(self, params: dict[str, Any] | None = None, model=None, **sizes: int) -> tuple[int, int]:
        """Passes this method makes with ``params``; some costs depend on the model (e.g. its layer's channels)
        or on the input's size (``sizes``: a text's ``n_tokens``, a prompt's ``n_prompt`` and ``n_target``)."""
        return self.cost(self.resolve_params(params or {}), model, **sizes)


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
):
    """Register ``fn(model, x, target, **params) -> (scores, target_index[, fields])`` under ``id``.

    ``x`` is the prepared input (an H×W×3 uint8 array for images), ``target`` a class
    index or None for the top class; the first docstring line is the summary shown to users.
    ``fields``, optional: other ``Explanation`` fields the method fills (tokens,
    target_tokens, feature_names, base_value, extras, target_label).
    ``exclusive=False`` only for a method that installs no hook and changes no module state, whose
    every pass goes through the adapter's locked ``forward``: it then runs beside other runs.
    """

    def decorate(fn):
        summary = (fn.__doc__ or "").strip().split("\n")[0]
        _METHODS[(modality, id)] = Method(
            id, modality, family, fn, cost, dict(defaults or {}), summary, signed, dict(choices or {}), many,
            exclusive,
        )
        return fn

    return decorate


def list_explainers(modality: str | None = None) -> list[str]:
    """Method ids, in registration order, optionally for one modality."""
    return [m.id for (mod, _), m in _METHODS.items() if modality in (None, mod)]


def get_method(id: str, modality: str) -> Method:
    try:
        return _METHODS[(modality, id)]
    except KeyError:
        available = ", ".join(list_explainers(modality)) or "none yet"
        raise ExplainerError(f"No {modality} explainer named '{id}'. Available: {available}.") from None
