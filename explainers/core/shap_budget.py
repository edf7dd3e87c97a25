"""What the shap library's explainers need from us on every modality: their pass budget and a seeded np.random."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from models.errors import ExplainerError
from models.seeding import seeded


def partition_passes(max_evals: int) -> int:
    """What shap's Partition explainer runs for ``max_evals``: the fully masked and the whole
    input, then pairs of masked inputs until the budget ``max_evals - 2`` is reached."""
    return 2 + 2 * -(-(max_evals - 2) // 2)


def check_max_evals(params) -> int:
    value = params["max_evals"]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ExplainerError(f"max_evals must be a whole number of at least 2; got {value!r}.")
    return int(value)


@contextmanager
def numpy_seed(seed: int):
    """shap draws from the global ``np.random`` (Partition's tie-breaks, KernelSHAP's coalitions):
    seed it for the call, then restore the state."""
    with seeded(seed):
        yield
