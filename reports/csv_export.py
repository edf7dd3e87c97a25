"""CSV files Lumen hands out, safe to open in a spreadsheet (OWASP "CSV injection").

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some,
one that starts with a tab or a carriage return) as a formula: ``=HYPERLINK(...)``
from a column name would become a live link. Every text cell, header included,
that starts with one of them gets a leading ``'``, which spreadsheets show as
text. Numbers stay numbers: ``-1.5`` in a numeric column is a number, not a formula.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """``value`` with a leading ``'`` when it is text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame, index: bool = False) -> bytes:
    """``frame`` as UTF-8 CSV bytes, every text cell and column name neutralised; rows end in CRLF (RFC 4180),
    so that a carriage return inside a cell is quoted, not taken for the end of a row."""
    safe = frame.rename(columns=lambda c: neutralise(str(c)))
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    return safe.to_csv(index=index, lineterminator="\r\n").encode("utf-8")
