"""The note on the Text page when a text looks like another language than the model's (English)."""

import pytest

from models.inputs.language import ENGLISH, OTHERS, language_note, words

ENGLISH_TEXTS = [
    "This film was a total waste of time, and the ending made it even worse.",
    "Oh great, another meeting that could have been an email. Just what I needed today.",
    "The acting is superb but the plot drags in the middle; I would still recommend it.",
    "I love this phone!",  # short: no note
    "Best concert ever 😍🔥 can't wait to go again!",
]


@pytest.mark.parametrize("text", ENGLISH_TEXTS)
def test_english_gets_no_note(text):
    assert language_note(text) is None


@pytest.mark.parametrize("text, language", [
    ("Ce film est une perte de temps totale, et la fin le rend encore pire.", "French"),
    ("Je n'ai pas aimé ce restaurant : le service était lent et les plats sans goût.", "French"),
    ("Der Film ist eine totale Zeitverschwendung und das Ende macht es noch schlimmer.", "German"),
    ("Ich habe mich sehr auf das Konzert gefreut, aber der Ton war leider schlecht.", "German"),
    ("La película es muy aburrida y el final es todavía peor.", "Spanish"),
])
def test_another_language_is_named(text, language):
    note = language_note(text)
    assert note is not None and f"looks like {language}" in note and "reads English only" in note


@pytest.mark.parametrize("text, script", [
    ("Этот фильм — пустая трата времени.", "Cyrillic"),
    ("这部电影完全是浪费时间。", "Chinese characters"),
])
def test_another_script_is_named(text, script):
    note = language_note(text)
    assert note is not None and script in note


def test_no_english_function_word_in_a_long_text():
    note = language_note("Ristorante ottimo, pizza buonissima, servizio veloce, prezzi onesti, consigliatissimo davvero")
    assert note is not None and "None of this text's" in note


def test_short_or_wordless_texts_and_other_models_get_no_note():
    assert language_note("Très bien") is None  # under MIN_WORDS words: too short to tell
    assert language_note("12345 !!! 678") is None
    assert language_note("") is None
    assert language_note("Ce film est une perte de temps totale.", language="French") is None


def test_the_lists_share_no_word():
    assert not any(ENGLISH & ws for ws in OTHERS.values())
    for a in OTHERS:
        for b in OTHERS:
            assert a == b or not OTHERS[a] & OTHERS[b]


def test_words_keep_inner_apostrophes():
    assert words("C’est l'été, don't panic 42") == ["c'est", "l'été", "don't", "panic"]
