"""What a reader sees of a Streamlit markdown string: the page escapes user strings (pages/widgets.py
``plain``/``plain_sentence``), so a test that looks for a name drops the backslashes first."""

import re


def as_read(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)
