"""Text input: one place that turns what a person typed or uploaded into a clean string."""

from __future__ import annotations

import unicodedata

from models.errors import InputError

MAX_CHARS = 1_000_000  # beyond this even tokenising is slow; longer texts are refused, not truncated
UPLOAD_TYPES = ("txt", "md", "csv")


def clean_text(text) -> str:
    """``text`` as NFC Unicode without control characters (tab and newline kept) or lone surrogates, or an ``InputError``.

    Accepts ``str`` or UTF-8 ``bytes`` (a byte-order mark is dropped). Empty or
    whitespace-only texts are refused; truncation to a model's token limit is the
    model adapter's job, since only it knows the limit.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise InputError(
                f"The text is not valid UTF-8 (byte {err.start} cannot be decoded); save it as UTF-8 and try again."
            ) from None
    if not isinstance(text, str):
        raise InputError(f"Expected a text (str), got {type(text).__name__}.")
    if len(text) > MAX_CHARS:
        raise InputError(f"The text has {len(text):,} characters; Lumen accepts up to {MAX_CHARS:,}.")
    text = unicodedata.normalize("NFC", text)
    # Cs: a lone surrogate (half of a UTF-16 pair) is no character; tokenizers raise a TypeError on it
    text = "".join(c for c in text if c in "\t\n" or unicodedata.category(c) not in ("Cc", "Cs"))
    if not text.strip():
        raise InputError("The text is empty (or only whitespace); type or upload some text to explain.")
    return text
