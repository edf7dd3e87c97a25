"""Report items carry real names and parameters: an upload's file name (not its hash), a what-if row named with its
edits, a generation item's max_new_tokens as the page used it."""

from PIL import Image

from reports.describe import row_name
from tests.conftest import encode


def test_row_name_says_the_edits():
    original = {"bill_length_mm": 49.5, "island": "Biscoe", "sex": float("nan")}
    assert row_name(3, original, dict(original), "penguins.csv") == "penguins.csv row 3"
    edited = {**original, "bill_length_mm": 55.0}
    assert row_name(3, original, edited) == "row 3 (edited: bill_length_mm 49.5 → 55)"
    edited = {**original, "island": "Dream", "sex": "MALE"}
    assert row_name(3, original, edited, "penguins") == "penguins row 3 (edited: island Biscoe → Dream, sex missing → MALE)"


def test_an_uploaded_image_is_named_by_its_file_in_the_report(at, chelsea):
    at.radio(key="image_source").set_value("Upload").run()
    at.file_uploader[0].set_value(("my cat.jpg", encode(Image.fromarray(chelsea), "JPEG", quality=92),
                                   "image/jpeg")).run()
    at.button(key="run").click().run()
    at.button(key="add_report:image:grad-cam").click().run()
    assert not at.exception and not at.error
    assert at.session_state["report_items"][-1].input_name == "my cat.jpg"


def test_a_sample_image_is_named_by_the_sample(at):
    at.button(key="run").click().run()
    at.button(key="add_report:image:grad-cam").click().run()
    name = at.session_state["report_items"][-1].input_name
    assert name == at.selectbox(key="image_sample").value and not name.startswith("sample:")


def test_the_what_if_row_is_named_with_its_edit(at):
    at.switch_page("pages/tabular.py").run()
    at.number_input(key="tab_row").set_value(3).run()
    radius = next(w for w in at.number_input if w.key.startswith("tab_value:") and w.key.endswith(":3:0"))
    old = radius.value
    radius.set_value(old + 5)
    at.button(key="FormSubmitter:tab_whatif-Explain this row").click().run()
    assert not at.exception and not at.error
    method = at.session_state["tab_local"]["e"].method
    at.button(key=f"add_report:tabular:{method}").click().run()
    name = at.session_state["report_items"][-1].input_name
    column = at.session_state["tab_local"]["e"].feature_names[0]
    assert name == f"{at.selectbox(key='tab_dataset').value} row 3 (edited: {column} {old:.6g} → {old + 5:.6g})"


def test_a_generation_item_records_the_max_new_tokens_used(at):
    at.switch_page("pages/generation.py").run()
    at.radio(key="gen_mode").set_value("Given target").run()
    at.button(key="gen_run").click().run()
    assert not at.exception and not at.error
    e = next(iter(at.session_state["gen_results"]["explanations"].values()))
    assert e.params["max_new_tokens"] == len(e.target_tokens)  # the given target's length, not the default 20


def test_the_generation_page_shows_no_per_method_max_new_tokens_it_would_ignore(at):
    at.switch_page("pages/generation.py").run()
    assert not at.exception
    labels = [w.label for w in at.number_input]
    assert "Max new tokens" in labels and "max_new_tokens" not in labels


def test_an_uploaded_text_is_named_by_its_file_in_the_report(at):
    at.switch_page("pages/text.py").run()
    at.file_uploader(key="text_upload").upload("review.txt", "Dreadful, boring and far too long.".encode(),
                                               "text/plain").run()
    at.button(key="text_run").click().run()
    assert not at.exception and not at.error
    add = next(b for b in at.button if b.key and b.key.startswith("add_report:text:"))
    add.click().run()
    assert at.session_state["report_items"][-1].input_name == "review.txt"


def test_a_concepts_item_is_named_by_its_views(at):
    from tests.app.test_concepts_page import open_page, set_fast

    open_page(at)
    set_fast(at)
    at.button(key="concept_run").click().run()
    assert not at.exception and not at.error
    at.button(key="add_report:concepts").click().run()
    assert at.session_state["report_items"][-1].input_name == "8 views of chelsea (cat)"
