"""The shared Sobol core against functions whose total-order indices are known analytically."""

import numpy as np
import pytest

from explainers.core import sobol
from models.errors import ExplainerError


def linear(a):
    a = np.asarray(a, dtype=float)
    return lambda u: u @ a


def ishigami(u, a=7.0, b=0.1):
    x = (2 * u - 1) * np.pi  # U(-π, π) inputs
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


# Ishigami (a=7, b=0.1) total indices, e.g. Saltelli et al., "Global Sensitivity Analysis. The Primer" (2008).
ISHIGAMI_TOTAL = np.array([0.5576, 0.4424, 0.2437])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_function_indices_are_squared_weights(seed):
    """f = Σ a_i x_i with independent uniform x_i: ST_i = a_i² / Σ a_j² (no interactions)."""
    a = np.array([1.0, 2.0, 3.0, 0.5])
    st = sobol.total_order(linear(a), dim=4, nb_design=1024, seed=seed)
    # Over 50 seeds at nb_design=1024 the largest error seen was 0.0016; 0.01 leaves room, and still
    # tells a_i² / Σ a_j² (0.07, 0.28, 0.63, 0.02) from a_i / Σ a_j or a uniform answer.
    np.testing.assert_allclose(st, a**2 / np.sum(a**2), atol=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ishigami_total_indices(seed):
    st = sobol.total_order(ishigami, dim=3, nb_design=4096, seed=seed)
    # Jansen's estimator with scrambled Sobol points at nb_design=4096 (20 480 evaluations): over 50 seeds the
    # spread (std) of the estimates was at most 0.003 and the largest error 0.012, so 0.02 is ~6 std.
    np.testing.assert_allclose(st, ISHIGAMI_TOTAL, atol=0.02)


def test_ishigami_unscrambled_is_still_close():
    st = sobol.total_order(ishigami, dim=3, nb_design=4096, scramble=False)
    np.testing.assert_allclose(st, ISHIGAMI_TOTAL, atol=0.03)


def test_ignored_variable_gets_zero():
    """f = sin(2π x_1) + x_2 x_3, x_4 never read. V_1 = 1/2, V_2 = V_3 = 1/48, V_23 = 1/144:
    ST_1 = (1/2) / V, ST_2 = ST_3 = (1/48 + 1/144) / V with V = 1/2 + 7/144; ST_4 = 0."""
    f = lambda u: np.sin(2 * np.pi * u[:, 0]) + u[:, 1] * u[:, 2]  # noqa: E731
    st = sobol.total_order(f, dim=4, nb_design=1024)
    assert st[3] == 0.0  # f(A) - f(A_B^(4)) is exactly 0 on every point
    v = 1 / 2 + 7 / 144
    np.testing.assert_allclose(st[:3], [0.5 / v, (1 / 48 + 1 / 144) / v, (1 / 48 + 1 / 144) / v], atol=0.02)


def test_interaction_counts_in_total_order():
    """f = x_1 · x_2: neither variable acts alone linearly, both carry the interaction.
    Analytic: V = 7/144, V_1 = V_2 = 1/48, V_12 = 1/144, so ST_i = (1/48 + 1/144)/(7/144) = 4/7."""
    st = sobol.total_order(lambda u: u[:, 0] * u[:, 1], dim=2, nb_design=2048)
    np.testing.assert_allclose(st, [4 / 7, 4 / 7], atol=0.02)


def test_deterministic_per_seed():
    f = ishigami
    first = sobol.total_order(f, 3, nb_design=64, seed=7)
    again = sobol.total_order(f, 3, nb_design=64, seed=7)
    other = sobol.total_order(f, 3, nb_design=64, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_constant_function_gives_zeros():
    st = sobol.total_order(lambda u: np.full(len(u), 3.0), dim=3, nb_design=8)
    np.testing.assert_array_equal(st, np.zeros(3))


@pytest.mark.parametrize("bad", [0, 1, 3, 12, 33, -8, 2.5, "32", None])
def test_bad_nb_design_is_a_clear_error(bad):
    with pytest.raises(ExplainerError, match="power of two"):
        sobol.total_order(ishigami, 3, nb_design=bad)


def test_design_layout():
    """Rows [A; B; A_B^(1..d)]: A_B^(i) equals A except column i, which comes from B."""
    dim, n = 3, 8
    d = sobol.design(dim, n, seed=0)
    assert d.shape == (n * (dim + 2), dim) and d.min() >= 0 and d.max() <= 1
    a, b = d[:n], d[n : 2 * n]
    for i in range(dim):
        block = d[2 * n + i * n : 2 * n + (i + 1) * n]
        np.testing.assert_array_equal(block[:, i], b[:, i])
        others = [j for j in range(dim) if j != i]
        np.testing.assert_array_equal(block[:, others], a[:, others])


def test_batched_form_handles_several_outputs_at_once():
    """One design, outputs with a trailing axis: the same as estimating each column alone."""
    dim, n = 3, 256
    points = sobol.design(dim, n, seed=3)
    y = np.stack([ishigami(points), linear([1, 2, 3])(points)], axis=1)
    both = sobol.jansen_total_order(y, dim, n)
    assert both.shape == (dim, 2)
    np.testing.assert_allclose(both[:, 0], sobol.total_order(ishigami, dim, n, seed=3))
    np.testing.assert_allclose(both[:, 1], sobol.total_order(linear([1, 2, 3]), dim, n, seed=3))


def test_wrong_number_of_outputs_is_a_clear_error():
    with pytest.raises(ExplainerError, match="outputs"):
        sobol.jansen_total_order(np.zeros(10), dim=3, nb_design=4)
