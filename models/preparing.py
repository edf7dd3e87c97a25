"""A model's first-use preparation says its steps: training a head, dequantising weights, writing the cache.

An embedded model is built at first use and cached afterwards (models/cache.py); on 2 cores that takes from
seconds to minutes. Its loader calls ``step`` at each step (and, within a long one, with the share done); a
caller that wants to show them (a page's status box) wraps the load in ``preparation_reports``. Without a
callback, ``step`` does nothing. The callback is this thread's (a context variable): sessions apart see their own.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Callable

# callback(k, n, text, share): step k of n (from 1), what it does, and the share of it done (None: not known)
Report = Callable[[int, int, str, "float | None"], None]
_REPORT: contextvars.ContextVar[Report | None] = contextvars.ContextVar("lumen_preparing", default=None)


@contextmanager
def preparation_reports(callback: Report | None):
    """Route the ``step`` calls of the loads inside the block to ``callback``."""
    token = _REPORT.set(callback)
    try:
        yield
    finally:
        _REPORT.reset(token)


def step(k: int, n: int, text: str, share: float | None = None) -> None:
    """Say that the preparation is at step ``k`` of ``n`` (``text``: what it does), ``share`` of it done."""
    callback = _REPORT.get()
    if callback is not None:
        callback(int(k), int(n), text, None if share is None else min(1.0, max(0.0, float(share))))
