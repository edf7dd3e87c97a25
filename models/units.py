"""Human units for what a user reads: ``duration(424.939)`` is "7.1 min", not "424939 ms".

One formatter for every page caption and every export (HTML, PDF, the command line), so a run's time
reads the same everywhere. Library code: no Streamlit here."""

from __future__ import annotations

import math

__all__ = ["duration"]


def duration(seconds: float) -> str:
    """A time span in the unit a person reads at a glance, with two or three significant digits.

    ========================  ===========  =============
    span                      written as   e.g.
    ========================  ===========  =============
    0                         ``0 s``
    under 0.1 ms              ``< 0.1 ms``
    under 10 ms               ``x.x ms``   ``4.2 ms``
    under 0.1 s               ``xx ms``    ``42 ms``
    under 10 s                ``x.xx s``   ``0.42 s``
    under 90 s                ``x.x s``    ``12.3 s``
    under 60 min              ``x.x min``  ``7.1 min``
    an hour and more          ``h h mm``   ``1 h 05 min``
    ========================  ===========  =============

    Boundaries are taken after rounding, so 9.999 s reads "10.0 s", never "10.00 s"; 59.99 min
    reads "1 h 00 min". A negative, infinite or non-number span raises ``ValueError`` saying so.
    """
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"A duration is a number of seconds, not {seconds!r}.") from None
    if math.isnan(s) or math.isinf(s):
        raise ValueError(f"A duration is a finite number of seconds, not {seconds!r}.")
    if s < 0:
        raise ValueError(f"A duration cannot be negative ({s:g} s).")
    if s == 0:
        return "0 s"
    ms = s * 1000
    if round(ms, 1) < 0.1:
        return "< 0.1 ms"
    if round(ms, 1) < 10:
        return f"{ms:.1f} ms"
    if round(ms) < 100:
        return f"{ms:.0f} ms"
    if round(s, 2) < 10:
        return f"{s:.2f} s"
    if round(s, 1) < 90:
        return f"{s:.1f} s"
    if round(s / 60, 1) < 60:
        return f"{s / 60:.1f} min"
    hours, minutes = divmod(round(s / 60), 60)
    return f"{hours} h {minutes:02d} min"
