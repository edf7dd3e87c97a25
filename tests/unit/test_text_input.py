"""clean_text: what a person types becomes a clean string or one clear sentence."""

import pytest

from models.errors import InputError
from models.inputs.texts import MAX_CHARS, clean_text


@pytest.mark.parametrize("text", ["", "   \n\t ", b"", "\x00\x01\x1b"])
def test_empty_or_blank_is_refused(text):
    with pytest.raises(InputError, match="empty"):
        clean_text(text)


def test_control_characters_dropped_newlines_kept():
    assert clean_text("a\x00b\x1b[31m\nc\td") == "ab[31m\nc\td"


@pytest.mark.parametrize("text", ["naïve café 🙂", "東京は晴れ", "שלום עולם", "مرحبا بالعالم"])
def test_unicode_kept(text):
    assert clean_text(text) == text


def test_bytes_decoded_and_bad_bytes_refused():
    assert clean_text("\ufeffhello".encode()) == "hello"
    with pytest.raises(InputError, match="UTF-8"):
        clean_text(b"\xff\xfe\xfa")


def test_wrong_type_and_huge_text_refused():
    with pytest.raises(InputError, match="int"):
        clean_text(3)
    with pytest.raises(InputError, match="characters"):
        clean_text("a" * (MAX_CHARS + 1))


def test_nfc_normalised():
    assert clean_text("e\u0301") == "\u00e9"


def test_lone_surrogates_dropped():
    """Found by the fuzz tests: a lone surrogate passed through and made the tokenizer raise a TypeError."""
    assert clean_text("a\ud800b\udfff") == "ab"
    with pytest.raises(InputError, match="empty"):
        clean_text("\ud800")
