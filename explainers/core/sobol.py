"""The one Sobol core: a quasi-Monte-Carlo design and the Jansen total-order estimator.

Modality-free: image attribution (``sobol``) and concept importance use the same
three functions. The batched form is ``design`` -> evaluate every row at once ->
``jansen_total_order``; ``total_order`` chains them for a plain function.

Design (Saltelli's "A, B, A_B^(i)" construction): two independent matrices A and B
of ``nb_design`` points in [0, 1]^dim, taken from one Sobol sequence in 2·dim
dimensions, and for each i the matrix A_B^(i), equal to A with column i from B.
Rows are stacked as [A; B; A_B^(1); ...; A_B^(dim)]: ``nb_design · (dim + 2)`` points.

Jansen's estimator (Jansen 1999; Saltelli et al. 2010, "Variance based sensitivity
analysis of model output", table 2, formula (f)):
    ST_i = mean_j (f(A)_j - f(A_B^(i))_j)² / (2 · Var f),
with Var f estimated on the 2·nb_design independent points of A and B.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import qmc

from models.errors import ExplainerError


def check_nb_design(nb_design) -> int:
    """``nb_design`` as an int, or an ``ExplainerError`` unless it is a power of two >= 2."""
    try:
        n = int(nb_design)
    except (TypeError, ValueError):
        n = 0
    if n != nb_design or n < 2 or n & (n - 1):
        raise ExplainerError(
            f"nb_design must be a power of two (2, 4, 8, 16, 32, ...); got {nb_design!r}. "
            "Sobol sequences are balanced only at powers of two."
        )
    return n


def design(dim: int, nb_design: int = 32, seed: int = 0, scramble: bool = True) -> np.ndarray:
    """The stacked design [A; B; A_B^(1..dim)]: (nb_design · (dim + 2), dim) float64 in [0, 1].

    ``scramble``: Owen-scrambled (randomised, seeded) or the plain Sobol sequence
    (whose first point is the origin; ``seed`` then changes nothing).
    It holds nb_design · dim² values: callers with many variables take its rows a
    batch at a time from ``design_matrices`` and ``design_rows`` instead.
    """
    a, b = design_matrices(dim, nb_design, seed, scramble)
    return design_rows(a, b, 0, design_size(dim, nb_design))


def design_matrices(dim: int, nb_design: int = 32, seed: int = 0, scramble: bool = True) -> tuple[np.ndarray, ...]:
    """A and B, each (nb_design, dim): the two halves of one Sobol sequence in 2·dim dimensions."""
    dim = int(dim)
    if dim < 1:
        raise ExplainerError(f"The Sobol design needs at least one variable; got dim={dim}.")
    n = check_nb_design(nb_design)
    points = qmc.Sobol(d=2 * dim, scramble=bool(scramble), rng=np.random.default_rng(seed)).random(n)
    return points[:, :dim], points[:, dim:]


def design_memory(dim: int, nb_design: int) -> int:
    """Peak bytes of ``design_matrices``: the points, and scipy's scrambling matrices (2·dim × 30 × 30 int64,
    with a temporary copy) when scrambled."""
    return 2 * int(nb_design) * 2 * int(dim) * 8 + 2 * 2 * int(dim) * 30 * 30 * 8


def design_size(dim: int, nb_design: int) -> int:
    return int(nb_design) * (int(dim) + 2)


def design_rows(a: np.ndarray, b: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start``..``stop - 1`` of the stacked design [A; B; A_B^(1..dim)] (A_B^(i): A with column i from B)."""
    n, dim = a.shape
    k = np.arange(start, stop)
    block, j = k // n, k % n
    rows = np.where((block == 1)[:, None], b[j], a[j])
    varied = np.flatnonzero(block >= 2)
    rows[varied, block[varied] - 2] = b[j[varied], block[varied] - 2]
    return rows


def jansen_total_order(outputs, dim: int, nb_design: int) -> np.ndarray:
    """Total-order indices from the outputs on ``design(dim, nb_design)``, in its row order.

    ``outputs``: (nb_design · (dim + 2),) or with trailing axes (e.g. one column per
    class); the result is (dim,) or (dim, *trailing). Where the output does not vary
    at all, every index is 0 (no variable explains any variance).
    """
    y = np.asarray(outputs, dtype=np.float64)
    n = check_nb_design(nb_design)
    if y.shape[0] != n * (dim + 2):
        raise ExplainerError(
            f"Expected {n * (dim + 2)} outputs (nb_design · (dim + 2)) for the Sobol design, got {y.shape[0]}."
        )
    f_a, f_b = y[:n], y[n : 2 * n]
    f_ab = y[2 * n :].reshape(dim, n, *y.shape[1:])
    variance = np.concatenate([f_a, f_b]).var(axis=0)
    squared = ((f_a[None] - f_ab) ** 2).mean(axis=1) / 2
    scale = np.finfo(np.float64).eps * np.abs(np.concatenate([f_a, f_b])).max(axis=0) ** 2
    safe = variance > scale
    return np.where(safe, squared / np.where(safe, variance, 1.0), 0.0)


def total_order(
    f: Callable[[np.ndarray], np.ndarray], dim: int, nb_design: int = 32, seed: int = 0, scramble: bool = True
) -> np.ndarray:
    """Jansen total-order Sobol indices (dim,) of ``f`` over the uniform cube [0, 1]^dim.

    ``f`` maps an (m, dim) array of points to m outputs; it is called once, on all
    ``nb_design · (dim + 2)`` points of the design.
    """
    points = design(dim, nb_design, seed, scramble)
    outputs = np.asarray(f(points), dtype=np.float64)
    if outputs.shape[:1] != (len(points),):
        raise ExplainerError(f"The function gave {outputs.shape[:1]} outputs for {len(points)} points.")
    return jansen_total_order(outputs, dim, nb_design)
