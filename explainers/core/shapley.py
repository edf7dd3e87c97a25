"""Shapley values of any coalition value function, by sampled feature orderings (antithetic); modality-free.

shap's ``PermutationExplainer`` (what ``shap-permutation`` runs) averages the *model's outputs* over the
background, so its value of a coalition is linear in those outputs. A value function that is not (SHAP-KL's
−KL(p(y|x) ‖ p(y|x_S))) needs the estimator itself, written here once:

- ``permutations`` random orderings of the m players are drawn exactly as shap draws them (``seed`` seeds a
  ``numpy.random.RandomState``; one index array is shuffled in place per permutation), and each is walked forwards
  and backwards (the reversed ordering: antithetic sampling), so 2 × ``permutations`` orderings in all;
- a player's value is its mean marginal contribution v(P ∪ {j}) − v(P) over the orderings, P the players before it;
- every ordering's contributions telescope to v(all) − v(∅), so the values sum to it exactly (efficiency), and in
  expectation they are the exact Shapley values.

The value function is asked once, for the *distinct* coalitions the orderings visit (the empty and the full one
are shared by every ordering; with few players many prefixes repeat), so its cost is ``count_coalitions``.
With the same orderings and a value that is the mean model output over background rows, the values are shap's
``PermutationExplainer`` values (tests/unit/test_shap_kl.py checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Callable

import numpy as np

from models.errors import ExplainerError

MAX_EXACT_PLAYERS = 16  # ``exact_shapley`` enumerates 2^m coalitions

# value(masks) -> values: masks (n, m) bool, True where the player is in the coalition; one value per row
Value = Callable[[np.ndarray], np.ndarray]


@dataclass
class ShapleyResult:
    values: np.ndarray  # (m,) the players' Shapley values (estimated)
    empty: float  # v(∅)
    full: float  # v(all players)
    n_coalitions: int  # distinct coalitions the value function was asked for


def orderings(m: int, permutations: int, seed: int = 0) -> np.ndarray:
    """(2 × permutations, m) player orderings: each random permutation (shap's draw) followed by its reverse."""
    m, permutations = _count("players", m), _count("permutations", permutations)
    rng = np.random.RandomState(int(seed))
    inds = np.arange(m)
    out = np.empty((2 * permutations, m), dtype=np.int64)
    for p in range(permutations):
        rng.shuffle(inds)  # in place, as shap shuffles its index array
        out[2 * p], out[2 * p + 1] = inds, inds[::-1]
    return out


def coalitions(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct coalitions ``order``'s orderings visit, (u, m) bool, and for each ordering and prefix length
    0..m the row of its coalition, (n_orderings, m + 1)."""
    order = np.asarray(order, dtype=np.int64)
    n, m = order.shape
    prefixes = np.zeros((n, m + 1, m), dtype=bool)
    rows = np.arange(n)
    for j in range(m):
        prefixes[:, j + 1] = prefixes[:, j]
        prefixes[rows, j + 1, order[:, j]] = True
    packed = np.packbits(prefixes.reshape(n * (m + 1), m), axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    masks = prefixes.reshape(n * (m + 1), m)[first]
    return masks, np.asarray(inverse).reshape(n, m + 1)


@lru_cache(maxsize=256)
def count_coalitions(m: int, permutations: int, seed: int = 0) -> int:
    """How many distinct coalitions ``permutation_shapley(value, m, permutations, seed)`` asks ``value`` for
    (remembered: a page asks for its estimate on every rerun)."""
    return len(coalitions(orderings(m, permutations, seed))[0])


def permutation_shapley(value: Value, m: int, permutations: int = 10, seed: int = 0,
                        order: np.ndarray | None = None) -> ShapleyResult:
    """Shapley values of ``value`` over m players from ``permutations`` antithetic orderings (seeded), or from the
    orderings ``order`` (n, m) given. ``value`` is called once, with every distinct coalition visited."""
    order = orderings(m, permutations, seed) if order is None else np.asarray(order, dtype=np.int64)
    if order.ndim != 2 or order.shape[1] != m or not np.all(np.sort(order, axis=1) == np.arange(m)):
        raise ExplainerError(f"Each ordering must list the {m} players once.")
    masks, index = coalitions(order)
    v = np.asarray(value(masks), dtype=np.float64).reshape(-1)
    if v.shape != (len(masks),):
        raise ExplainerError(f"The value function gave {v.size} values for {len(masks)} coalitions.")
    walked = v[index]  # (n_orderings, m + 1): v of each prefix
    gains = np.diff(walked, axis=1)  # the marginal contribution of order[:, j]
    phi = np.zeros(m, dtype=np.float64)
    np.add.at(phi, order.reshape(-1), gains.reshape(-1))
    empty, full = np.zeros((1, m), dtype=bool), np.ones((1, m), dtype=bool)
    return ShapleyResult(phi / len(order), float(v[_row(masks, empty)]), float(v[_row(masks, full)]), len(masks))


def _row(masks: np.ndarray, mask: np.ndarray) -> int:
    return int(np.flatnonzero(np.all(masks == mask, axis=1))[0])


def exact_shapley(value: Value, m: int) -> np.ndarray:
    """The exact Shapley values of ``value`` over m ≤ ``MAX_EXACT_PLAYERS`` players, by enumerating every coalition:
    φ_j = Σ_{S ⊆ N∖{j}} |S|! (m − |S| − 1)! / m! · (v(S ∪ {j}) − v(S)). The reference the estimator is tested on."""
    m = _count("players", m)
    if m > MAX_EXACT_PLAYERS:
        raise ExplainerError(f"Exact Shapley values enumerate 2^m coalitions; at most {MAX_EXACT_PLAYERS} players.")
    masks = np.array([[(s >> j) & 1 for j in range(m)] for s in range(2 ** m)], dtype=bool)
    v = np.asarray(value(masks), dtype=np.float64).reshape(-1)
    phi = np.zeros(m)
    for j in range(m):
        others = [i for i in range(m) if i != j]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in combinations(others, size):
                s = sum(1 << i for i in subset)
                phi[j] += weight * (v[s | (1 << j)] - v[s])
    return phi


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ExplainerError(f"{name} must be a whole number of at least 1; got {value!r}.")
    return int(value)
