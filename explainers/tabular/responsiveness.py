"""Feature responsiveness for recourse (Cheon, Wang, Ustun et al., "Feature Responsiveness Scores:
Model-Agnostic Explanations for Recourse", ICLR 2025).

    e = explain(m, row, method="responsiveness",
                actions={"income": {"lower": 0, "upper": 200_000, "step": 1000, "direction": "up"},
                         "housing": {"values": ["own", "rent"]},
                         "age": {"immutable": True}})
    e.scores            # per feature, in [0, 1]
    e.extras["fixed"]   # True: no single-feature action reaches the target

**The score.** The responsiveness of feature j for a row x is the probability that the person reaches the
target prediction by changing feature j alone to a value their action set allows, the value drawn uniformly
from the allowed values *different from the current one* (for a range without a step: uniformly over the
allowed interval). The target is, for a classifier, any class other than the predicted one (``desired``: one
class), for a regressor the other side of ``threshold`` (a prediction below it must reach at least it; one at
or above it must fall below it).

**The action set** (``parse_actions``). ``actions`` maps a feature to ``{"immutable": True}``,
``{"values": [...]}`` (the allowed values: category names for a categorical column) or
``{"lower": a, "upper": b, "step": s, "direction": "up" | "down" | "both"}``; a feature not named is
immutable, so nothing is actionable unless the caller says so. A missing bound is the smallest (largest)
value seen in the model's training rows; a missing step is 1 for a column of whole numbers with whole bounds
(integers stay integers), none otherwise (a continuous range). ``{"immutable": False}`` alone: those defaults, both ways.

**How it is computed.** Where the allowed values are finite and at most ``max_exact`` (a category's values, a
list, a range with a step), every one is evaluated: the score is exact (its interval is the score itself).
Otherwise ``samples`` values are drawn (seeded) and the score comes with a Wilson interval at ``confidence``.
Every candidate row of every feature goes through the perturbation engine in one batched call (counted,
cancellable). ``fixed``: no single-feature action reaches the target; with ``pairs=True`` a fixed row is also
checked on every pair of actionable features (exactly where the pair's values are at most ``max_exact``
combinations, else ``samples`` of them), and stays fixed only when no pair reaches the target either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from explainers.core.budget import DOUBLE
from explainers.core.engine import batched_logits, expect
from explainers.core.registry import SEED, register
from explainers.tabular.shap_methods import _positive
from models.errors import ExplainerError, InputError
from models.per_model import PerModel

METHOD = "responsiveness"  # its id: the Tables page's recourse part imports it (pages name no method themselves)
ROWS_PER_BATCH = 8192  # candidate rows per model call (scikit-learn is fastest on big batches: bench_responsiveness)
DIRECTIONS = ("up", "down", "both")
SPEC_KEYS = ("immutable", "values", "lower", "upper", "step", "direction")
EDITOR_ACTIONS = ("immutable", "up", "down", "both", "values")  # the editor's choices per feature
DISTRIBUTION = ("uniform over the allowed values different from the current one "
                "(over the allowed interval for a range without a step)")
_EPS = 1e-9
_SEEN = PerModel()  # model -> its background rows encoded (the data's bounds, steps and whole numbers)


@dataclass(frozen=True)
class Action:
    """One feature's allowed actions, validated against the model (``parse_actions``)."""

    feature: str
    immutable: bool = True
    category: bool = False
    values: tuple | None = None  # allowed values: numbers, or category names
    lower: float | None = None
    upper: float | None = None
    step: float | None = None
    direction: str = "both"
    codes: tuple | None = None  # a category's allowed values as the model's codes (``TableSchema.encode``)

    def to_dict(self) -> dict:
        """The action in the public form (what ``actions=`` takes)."""
        if self.immutable:
            return {"immutable": True}
        if self.values is not None:
            out = {"values": list(self.values)}
            return out if self.direction == "both" else {**out, "direction": self.direction}
        out = {"lower": self.lower, "upper": self.upper, "direction": self.direction}
        return out if self.step is None else {**out, "step": self.step}

    def describe(self) -> str:
        if self.immutable:
            return "immutable"
        way = {"up": "only up", "down": "only down", "both": ""}[self.direction]
        if self.values is not None:
            shown = ", ".join(_number_text(v) for v in self.values[:6]) + (" …" if len(self.values) > 6 else "")
            return f"one of {shown}" + (f" ({way})" if way else "")
        step = "" if self.step is None else f" step {_number_text(self.step)}"
        return f"{_number_text(self.lower)} to {_number_text(self.upper)}{step}" + (f", {way}" if way else "")


def _number_text(v) -> str:
    if isinstance(v, str):
        return v
    v = float(v)
    return f"{int(v):,}" if v.is_integer() else f"{v:.4g}"


def _whole(values: np.ndarray) -> bool:
    values = values[~np.isnan(values)]
    return values.size > 0 and bool(np.all(np.abs(values - np.round(values)) < _EPS))


def _finite(feature: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise InputError(f"The action for '{feature}': {name} must be a finite number; got {value!r}.")
    return float(value)


def parse_actions(model, actions) -> dict[str, Action]:
    """Every feature of ``model`` with its validated ``Action`` (a feature not named in ``actions`` is immutable);
    an unknown feature or a spec that cannot be followed is an ``InputError`` saying which and why."""
    if actions is None:
        actions = {}
    if not isinstance(actions, dict):
        raise InputError("The action set must map feature names to actions, e.g. "
                         "{'income': {'lower': 0, 'upper': 100000, 'direction': 'up'}}.")
    names = list(model.feature_names)
    unknown = [str(f) for f in actions if f not in names]
    if unknown:
        shown = ", ".join(f"'{f}'" for f in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise InputError(f"The action set names features the model does not have: {shown}. "
                         f"Its features: {', '.join(names[:20])}{' …' if len(names) > 20 else ''}.")
    return {f: _parse_one(model, f, actions.get(f)) for f in names}


def _parse_one(model, feature: str, spec) -> Action:
    if spec is None:
        return Action(feature)
    if not isinstance(spec, dict):
        raise InputError(f"The action for '{feature}' must be a dict such as {{'immutable': True}}, "
                         f"{{'values': [...]}} or {{'lower': a, 'upper': b, 'step': s, 'direction': 'up'}}.")
    extra = sorted(set(spec) - set(SPEC_KEYS))
    if extra:
        raise InputError(f"The action for '{feature}' has unknown keys: {', '.join(extra)} "
                         f"(allowed: {', '.join(SPEC_KEYS)}).")
    category = feature in model.schema.categories
    if spec.get("immutable") is True:
        if len(spec) > 1:
            raise InputError(f"The action for '{feature}' says immutable and also gives {', '.join(k for k in spec if k != 'immutable')}; give one.")
        return Action(feature, category=category)
    if "immutable" in spec and spec["immutable"] is not False:
        raise InputError(f"The action for '{feature}': immutable must be True or False; got {spec['immutable']!r}.")
    direction = spec.get("direction", "both")
    if direction not in DIRECTIONS:
        raise InputError(f"The action for '{feature}': direction must be one of up, down, both; got {direction!r}.")
    bounds = [k for k in ("lower", "upper", "step") if k in spec]
    if "values" in spec:
        if bounds:
            raise InputError(f"The action for '{feature}' gives both values and {', '.join(bounds)}; give one or the other.")
        return _parse_values(model, feature, spec["values"], direction, category)
    if category:
        if bounds:
            raise InputError(f"'{feature}' is a category: its action lists the allowed values "
                             f"({{'values': [...]}}), not bounds or a step.")
        if direction != "both":
            raise InputError(f"'{feature}' is a category, which has no up or down; list the allowed values instead.")
        known = model.schema.categories[feature]
        return Action(feature, immutable=False, category=True, values=tuple(known), codes=tuple(range(len(known))))
    seen = _seen(model)[:, model.feature_names.index(feature)]
    seen = seen[~np.isnan(seen)]
    if seen.size == 0 and ("lower" not in spec or "upper" not in spec):
        raise InputError(f"'{feature}' has no values in the training rows; give its lower and upper bounds.")
    lower = _finite(feature, "lower", spec["lower"]) if "lower" in spec else float(seen.min())
    upper = _finite(feature, "upper", spec["upper"]) if "upper" in spec else float(seen.max())
    if lower > upper:
        raise InputError(f"The action for '{feature}': lower ({lower:g}) is above upper ({upper:g}).")
    step = spec.get("step")
    if step is not None:
        step = _finite(feature, "step", step)
        if step <= 0:
            raise InputError(f"The action for '{feature}': step must be above 0; got {step:g}.")
    elif _whole(seen) and float(lower).is_integer() and float(upper).is_integer():
        step = 1.0  # a column of whole numbers stays whole
    return Action(feature, immutable=False, lower=lower, upper=upper, step=step, direction=direction)


def _seen(model) -> np.ndarray:
    """The model's background rows encoded, once per model (read-only)."""
    def encode():
        values = model.schema.encode(model.background)
        values.setflags(write=False)
        return values

    return _SEEN.get(model, "seen", encode)


def _parse_values(model, feature, values, direction, category) -> Action:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InputError(f"The action for '{feature}': values must be a list of the allowed values.")
    values = list(values)
    if not values:
        raise InputError(f"The action for '{feature}' allows no values; say {{'immutable': True}} instead.")
    if category:
        known = model.schema.categories[feature]
        values = [str(v) for v in values]
        bad = [v for v in values if v not in known]
        if bad:
            raise InputError(f"'{feature}' has no categor{'ies' if len(bad) > 1 else 'y'} "
                             f"{', '.join(repr(v) for v in bad[:10])}; its categories: {', '.join(known[:20])}.")
        if direction != "both":
            raise InputError(f"'{feature}' is a category, which has no up or down; list the allowed values instead.")
        values = tuple(dict.fromkeys(values))
        return Action(feature, immutable=False, category=True, values=values,
                      codes=tuple(known.index(v) for v in values))
    numbers = tuple(sorted(set(_finite(feature, "each value", v) for v in values)))
    return Action(feature, immutable=False, values=numbers, direction=direction)


# --- the candidates of one feature ---------------------------------------------------------------------------------


@dataclass
class Candidates:
    """One feature's values to evaluate for a row: every allowed value (``exact``) or a sample of them."""

    values: np.ndarray  # encoded values (category codes for a category)
    exact: bool
    population: int  # how many allowed values there are (0 for a continuous range: uncountably many)


def _grid_range(a: Action, current: float) -> tuple[int, int, int | None]:
    """The grid indices [k_lo, k_hi] in the allowed direction and the index equal to ``current`` (None if none)."""
    n = int(math.floor((a.upper - a.lower) / a.step + _EPS)) + 1
    if current != current:  # a missing value has no up or down: every grid value is a change
        return 0, n - 1, None
    position = (current - a.lower) / a.step
    k_eq = int(round(position))
    k_eq = k_eq if 0 <= k_eq < n and abs(position - k_eq) < 1e-7 else None
    if a.direction == "up":
        return max(0, int(math.floor(position + 1e-7)) + 1), n - 1, None
    if a.direction == "down":
        return 0, min(n - 1, int(math.ceil(position - 1e-7)) - 1), None
    return 0, n - 1, k_eq


def candidates(a: Action, current: float, samples: int, max_exact: int, rng: np.random.Generator) -> Candidates:
    """The values of ``a`` other than ``current`` (encoded) to try: all of them when they are finite and at most
    ``max_exact``, else ``samples`` drawn uniformly (with replacement) from them."""
    if a.immutable:
        return Candidates(np.empty(0), True, 0)
    direction = "both" if current != current else a.direction
    if a.codes is not None or a.values is not None:
        values = np.asarray(a.codes if a.codes is not None else a.values, dtype=float)
        values = _directed(values, current, direction)
        if len(values) <= max_exact:
            return Candidates(values, True, len(values))
        return Candidates(rng.choice(values, size=samples), False, len(values))
    if a.step is None:  # a continuous range: uniform over the allowed interval
        lo, hi = a.lower, a.upper
        if direction == "up":
            lo = max(lo, current)
        elif direction == "down":
            hi = min(hi, current)
        if not hi > lo:
            return Candidates(np.empty(0), True, 0)
        return Candidates(rng.uniform(lo, hi, size=samples), False, 0)
    k_lo, k_hi, k_eq = _grid_range(a, current)
    count = max(0, k_hi - k_lo + 1) - (k_eq is not None and k_lo <= k_eq <= k_hi)
    if count <= 0:
        return Candidates(np.empty(0), True, 0)
    if count <= max_exact:
        k = np.arange(k_lo, k_hi + 1)
        k = k[k != k_eq] if k_eq is not None else k
        return Candidates(_grid_values(a, k), True, count)
    k = rng.integers(0, count, size=samples) + k_lo  # uniform over the allowed indices, skipping the current one
    if k_eq is not None:
        k = np.where(k >= k_eq, k + 1, k)
    return Candidates(_grid_values(a, k), False, count)


def _grid_values(a: Action, k: np.ndarray) -> np.ndarray:
    values = a.lower + a.step * k.astype(float)
    if float(a.lower).is_integer() and float(a.step).is_integer():
        return np.round(values)  # whole numbers stay whole, without float noise
    return np.round(values, 10)  # 7.49, not 7.4899999999998546


def _directed(values: np.ndarray, current: float, direction: str) -> np.ndarray:
    tol = _EPS * max(1.0, abs(current)) if current == current else 0.0
    if current != current:
        return values
    if direction == "up":
        return values[values > current + tol]
    if direction == "down":
        return values[values < current - tol]
    return values[np.abs(values - current) > tol]


def count_candidates(a: Action, samples: int, max_exact: int) -> int:
    """At most how many values of ``a`` are evaluated for any row (the cost's bound)."""
    if a.immutable:
        return 0
    if a.codes is not None or a.values is not None:
        n = len(a.codes if a.codes is not None else a.values)
        return n if n <= max_exact else samples
    if a.step is None:
        return samples
    n = int(math.floor((a.upper - a.lower) / a.step + _EPS)) + 1
    return n if n <= max_exact else samples


def wilson(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion (successes of n draws) at ``confidence``."""
    if n <= 0:
        return 0.0, 0.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --- the target ------------------------------------------------------------------------------------------------------


def _reached(model, outputs: np.ndarray, current: int | float, desired: int | None, threshold: float | None):
    """Which rows of model ``outputs`` reach the target, and the decision of each (a class index or a value)."""
    if model.task == "classification":
        decision = outputs.argmax(axis=1)
        return (decision != current if desired is None else decision == desired), decision
    value = outputs[:, 0]
    return (value >= threshold if current < threshold else value < threshold), value


def _goal(model, current, desired, threshold) -> str:
    if model.task != "classification":
        return f"a prediction {'of at least' if current < threshold else 'below'} {threshold:g}"
    if desired is not None:
        return f"class {model.labels[desired]}"
    others = [label for i, label in enumerate(model.labels) if i != current]
    return f"class {others[0]}" if len(others) == 1 else f"any class other than {model.labels[current]}"


def _desired_index(model, desired) -> int | None:
    if desired is None:
        return None
    if model.task != "classification":
        raise InputError("desired names a class; a regressor's target is set by threshold.")
    labels = [str(label) for label in model.labels]
    if str(desired) not in labels:
        raise InputError(f"desired: the model has no class {desired!r}; its classes: {', '.join(labels)}.")
    return labels.index(str(desired))


# --- the method ------------------------------------------------------------------------------------------------------


def _pair_cost(sizes: list[int], samples: int, max_exact: int) -> int:
    total = 0
    for i in range(len(sizes)):
        for j in range(i + 1, len(sizes)):
            total += sizes[i] * sizes[j] if sizes[i] * sizes[j] <= max_exact else samples
    return total


def _cost(params, model=None, **sizes):
    """At most: the row once, then every candidate of every actionable feature (and of every pair, with pairs)."""
    samples = _positive("samples", params["samples"])
    max_exact = _positive("max_exact", params["max_exact"])
    if model is None:
        n = len(params["actions"] or {})
        return 1 + n * max(samples, max_exact), 0
    counts = [count_candidates(a, samples, max_exact) for a in parse_actions(model, params["actions"]).values()]
    counts = [c for c in counts if c]
    return 1 + sum(counts) + (_pair_cost(counts, samples, max_exact) if params["pairs"] else 0), 0


def _memory(params, model, n_rows=1, **_) -> int:
    rows = _cost(params, model)[0]
    return 4 * rows * (len(model.feature_names) + 8) * DOUBLE


@register(METHOD, modality="tabular", family="recourse", cost=_cost,
          defaults={"actions": None, "desired": None, "threshold": None, "samples": 200, "max_exact": 1000,
                    "confidence": 0.95, "pairs": False, "seed": 0},
          limits={"samples": (1, 100_000), "max_exact": (1, 100_000), "confidence": (0.5, 0.999),
                  "threshold": (-1e15, 1e15), "seed": SEED},
          memory=_memory, exclusive=False, estimate_note="at most")
def responsiveness(model, frame, target, actions=None, desired=None, threshold=None, samples=200, max_exact=1000,
                   confidence=0.95, pairs=False, seed=0):
    """Feature responsiveness (Cheon et al., ICLR 2025): the chance of reaching the target by changing one feature.

    Per feature: the share of the values the action set allows it (other than the row's own; uniform) that
    move the prediction to the target — any other class (``desired``: one class), or the other side of
    ``threshold`` for a regressor. Exact where the allowed values are at most ``max_exact``, else ``samples``
    draws with a Wilson interval at ``confidence``. ``extras["fixed"]``: no single-feature action (with
    ``pairs``, no pair either) reaches the target. A feature not in ``actions`` is immutable and scores 0.
    ``target`` is not used: the decision explained is the row's prediction.
    """
    samples = _positive("samples", samples)
    max_exact = _positive("max_exact", max_exact)
    if not isinstance(confidence, (int, float)) or not 0.5 <= confidence < 1:
        raise ExplainerError(f"confidence must lie in [0.5, 1); got {confidence!r}.")
    frame = model.rows(frame)
    if len(frame) != 1:
        raise InputError(f"Responsiveness explains one row at a time; got {len(frame)} rows.")
    if model.task != "classification":
        if threshold is None or isinstance(threshold, bool) or not np.isfinite(threshold):
            raise InputError("Responsiveness for a regressor needs threshold= (the prediction to reach or leave).")
        threshold = float(threshold)
    parsed = parse_actions(model, actions)
    desired_index = _desired_index(model, desired)
    rng = np.random.default_rng(int(seed))
    row = model.schema.encode(frame)[0]
    names = list(model.feature_names)
    per = [candidates(parsed[f], row[j], samples, max_exact, rng) for j, f in enumerate(names)]
    sizes = [len(c.values) for c in per]
    pair_bound = _pair_cost([s for s in sizes if s], samples, max_exact) if pairs else 0
    expect(1 + sum(sizes) + pair_bound)
    matrix = np.repeat(row[None, :], 1 + sum(sizes), axis=0)
    start = 1
    for j, c in enumerate(per):
        matrix[start:start + len(c.values), j] = c.values
        start += len(c.values)
    outputs = _outputs(model, matrix)
    current = int(outputs[0].argmax()) if model.task == "classification" else float(outputs[0, 0])
    if desired_index is not None and desired_index == current:
        raise InputError(f"The row is already predicted as {model.labels[current]}; choose another desired class.")
    reached, decision = _reached(model, outputs[1:], current, desired_index, threshold)

    scores, ci, n, exact, examples = np.zeros(len(names)), np.zeros((len(names), 2)), [], [], {}
    start = 0
    for j, (f, c) in enumerate(zip(names, per)):
        hits = reached[start:start + len(c.values)]
        k = int(hits.sum())
        n.append(len(c.values))
        exact.append(bool(c.exact))
        if len(c.values):
            scores[j] = k / len(c.values)
            ci[j] = (scores[j], scores[j]) if c.exact else wilson(k, len(c.values), float(confidence))
        if k:
            flips = np.flatnonzero(hits)
            best = flips[np.argmin(np.abs(c.values[flips] - (row[j] if row[j] == row[j] else 0)))]
            examples[f] = {"value": _shown_value(model, f, c.values[best]),
                           "prediction": _shown_decision(model, decision[start + best])}
        start += len(c.values)
    fixed = not bool(reached.any())
    pair_examples, pairs_checked = {}, None
    if pairs and fixed:
        pairs_checked, pair_examples = _pairs(model, row, names, per, current, desired_index, threshold,
                                              samples, max_exact, rng)
        fixed = not pair_examples
    extras = {
        "fixed": fixed, "ci": ci, "n": np.asarray(n, dtype=np.int64), "exact": exact, "examples": examples,
        "pairs_checked": pairs_checked, "pair_examples": pair_examples, "confidence": float(confidence),
        "actions": {f: a.to_dict() for f, a in parsed.items() if not a.immutable},
        "actionable": [f for f in names if not parsed[f].immutable],
        "action_text": {f: parsed[f].describe() for f in names},
        "goal": _goal(model, current, desired_index, threshold), "distribution": DISTRIBUTION,
        "current": _shown_decision(model, current), "output_kind": model.output_kind,
        "row": row, "categories": dict(model.schema.categories),
    }
    index = current if model.task == "classification" else 0
    return scores.astype(np.float32), index, {"feature_names": names, "extras": extras}


def _outputs(model, matrix: np.ndarray) -> np.ndarray:
    batch = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float64))
    out = batched_logits(model, len(matrix), lambda i, j: batch[i:j], batch_size=ROWS_PER_BATCH)
    return out.double().numpy()


def _pairs(model, row, names, per, current, desired, threshold, samples, max_exact, rng):
    """Pairs of actionable features, each with the values its single check tried: (pairs checked, {"a + b": example})."""
    active = [j for j, c in enumerate(per) if len(c.values)]
    blocks, keys = [], []
    for a_pos, i in enumerate(active):
        for j in active[a_pos + 1:]:
            vi, vj = per[i].values, per[j].values
            if len(vi) * len(vj) <= max_exact:
                gi, gj = np.repeat(vi, len(vj)), np.tile(vj, len(vi))
            else:
                gi, gj = rng.choice(vi, size=samples), rng.choice(vj, size=samples)
            block = np.repeat(row[None, :], len(gi), axis=0)
            block[:, i], block[:, j] = gi, gj
            blocks.append(block)
            keys.append((i, j))
    if not blocks:
        return 0, {}
    outputs = _outputs(model, np.concatenate(blocks))
    reached, decision = _reached(model, outputs, current, desired, threshold)
    examples, start = {}, 0
    for (i, j), block in zip(keys, blocks):
        hits = np.flatnonzero(reached[start:start + len(block)])
        if hits.size:
            h = hits[0]
            examples[f"{names[i]} + {names[j]}"] = {
                names[i]: _shown_value(model, names[i], block[h, i]),
                names[j]: _shown_value(model, names[j], block[h, j]),
                "prediction": _shown_decision(model, decision[start + h])}
        start += len(block)
    return len(keys), examples


def _shown_value(model, feature, value):
    if feature in model.schema.categories:
        return model.schema.categories[feature][int(round(value))]
    value = float(value)
    return int(value) if value.is_integer() else value


def _shown_decision(model, decision):
    return model.labels[int(decision)] if model.task == "classification" else float(decision)


# --- the action set as a table (the page's editor) ------------------------------------------------------------------

TABLE_COLUMNS = ("feature", "type", "action", "lower", "upper", "step", "values")


def _data_step(values: np.ndarray) -> float | None:
    """A step from the data: 1 for whole numbers; else the smallest gap between distinct values when they are
    few (at most 100), otherwise about a hundredth of the range, rounded to one significant digit."""
    values = np.unique(values[~np.isnan(values)])
    if values.size < 2:
        return None
    if _whole(values):
        return 1.0
    if values.size <= 100:
        return float(f"{np.min(np.diff(values)):.6g}")  # 0.01, not 0.009999999999999787
    raw = (values[-1] - values[0]) / 100
    return float(f"{raw:.1g}")


def default_table(model) -> pd.DataFrame:
    """One row per feature for the action set editor: its type, ``action`` "immutable" (nothing is actionable
    until the person says so), and the defaults the data suggests: bounds from the smallest and largest value
    seen in the training rows, a step (``_data_step``: whole numbers step by 1), a category's observed values."""
    encoded = _seen(model)
    rows = []
    for j, f in enumerate(model.feature_names):
        if f in model.schema.categories:
            rows.append({"feature": f, "type": "category", "action": "immutable", "lower": None, "upper": None,
                         "step": None, "values": ", ".join(model.schema.categories[f])})
            continue
        seen = encoded[:, j][~np.isnan(encoded[:, j])]
        whole = _whole(seen)
        rows.append({"feature": f, "type": "whole number" if whole else "number", "action": "immutable",
                     "lower": float(seen.min()) if seen.size else None, "upper": float(seen.max()) if seen.size else None,
                     "step": _data_step(seen), "values": ""})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def actions_from_table(model, table: pd.DataFrame) -> dict:
    """The ``actions=`` dict the edited table says (rows left "immutable" are left out: immutable by the rule);
    a value that is not a number where one is needed is an ``InputError`` naming the feature."""
    actions = {}
    for record in table.to_dict(orient="records"):
        f, action = str(record["feature"]), record.get("action") or "immutable"
        if action == "immutable":
            continue
        if action not in EDITOR_ACTIONS:
            raise InputError(f"'{f}': the action must be one of {', '.join(EDITOR_ACTIONS)}; got {action!r}.")
        category = f in model.schema.categories
        if category or action == "values":
            text = "" if _blank(record.get("values")) else str(record["values"])
            items = [v.strip() for v in text.split(",") if v.strip()]
            if not category:
                try:
                    items = [float(v) for v in items]
                except ValueError:
                    raise InputError(f"'{f}': the allowed values must be numbers separated by commas; "
                                     f"got {text!r}.") from None
            spec = {"values": items}
            if category and action in ("up", "down"):
                spec["direction"] = action  # refused by parse_actions with its sentence
            actions[f] = spec
            continue
        spec = {"direction": action}
        for key in ("lower", "upper", "step"):
            if not _blank(record.get(key)):
                try:
                    spec[key] = float(record[key])
                except (TypeError, ValueError):
                    raise InputError(f"'{f}': {key} must be a number; got {record[key]!r}.") from None
        actions[f] = spec
    parse_actions(model, actions)  # every sentence about a bad action now, before a run
    return actions


# --- SHAP's reasons beside the responsive features -----------------------------------------------------------------


def reasons(shap_explanation, resp_explanation, k: int = 5) -> pd.DataFrame:
    """Side by side: the ``k`` features SHAP ranks first (|value|) with their responsiveness, each marked
    "unresponsive" when changing it alone (within the action set) never reaches the target, and the ``k`` most
    responsive features. What a person given the SHAP "reasons" could act on."""
    names = list(resp_explanation.feature_names)
    resp = dict(zip(names, np.asarray(resp_explanation.scores, dtype=float)))
    actionable = set(resp_explanation.extras.get("actionable", []))
    shap_names = list(shap_explanation.feature_names)
    order = np.argsort(-np.abs(np.asarray(shap_explanation.scores, dtype=float)), kind="stable")[:k]
    ranked = sorted((f for f in names if resp[f] > 0), key=lambda f: -resp[f])[:k]
    rows = []
    for r in range(min(k, len(names))):
        row = {"rank": r + 1}
        if r < len(order):
            f = shap_names[order[r]]
            score = resp.get(f, 0.0)
            row.update({"SHAP reason": f, "SHAP value": float(shap_explanation.scores[order[r]]),
                        "its responsiveness": score,
                        "can the person act on it?": "yes" if score > 0 else
                        ("unresponsive: immutable" if f not in actionable else "unresponsive: no allowed change flips it")})
        else:
            row.update({"SHAP reason": "", "SHAP value": np.nan, "its responsiveness": np.nan,
                        "can the person act on it?": ""})
        row.update({"responsive feature": ranked[r] if r < len(ranked) else "",
                    "its score": resp[ranked[r]] if r < len(ranked) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)
