"""The Text page says when a text looks like another language than the embedded model's (English): a note, the
prediction and the run still there."""

import pytest

SENTENCES = {
    "English": "This film was a total waste of time, and the ending made it even worse.",
    "French": "Ce film est une perte de temps totale, et la fin le rend encore pire.",
    "German": "Der Film ist eine totale Zeitverschwendung und das Ende macht es noch schlimmer.",
}


@pytest.fixture
def text_page(at):
    at.switch_page("pages/text.py").run()
    assert not at.exception
    return at


def test_a_note_for_french_and_german_none_for_english(text_page):
    at = text_page
    key = next(t.key for t in at.text_area)
    for language, sentence in SENTENCES.items():
        at.text_area(key=key).set_value(sentence).run()
        assert not at.exception and not at.error
        notes = [i.value for i in at.info if "reads English only" in i.value]
        if language == "English":
            assert notes == []
        else:
            assert len(notes) == 1 and f"looks like {language}" in notes[0]
        assert at.selectbox(key="text_target:minilm-sentiment") is not None  # the page goes on: classes shown
        assert at.button(key="text_run") is not None
    at.text_area(key=key).set_value(SENTENCES["French"]).run()
    at.button(key="text_run").click().run()  # never blocks the run
    assert not at.exception and any("for **" in c.value for c in at.caption)
