"""A dataset job's inputs as the driver lists them (no Ray): keys, labels, error items, the limits; and a job stopped
before it starts."""

from __future__ import annotations

import io
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explainers.batch.reader import canonical_row, file_items, load_item, read_items
from explainers.batch.store import input_id
from models.errors import InputError
from models.inputs.images import UPLOAD_TYPES


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class _Model:  # what the image and text readers ask of a model: its modality
    def __init__(self, modality):
        self.modality = modality


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    for label, value in (("cat", 10), ("cat", 20), ("dog", 30)):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{value}.png").write_bytes(_png(value))
    (root / "top.png").write_bytes(_png(40))
    (root / "readme.md").write_text("notes")
    (root / ".hidden.png").write_bytes(_png(50))
    (root / ".git").mkdir()
    (root / ".git" / "x.png").write_bytes(_png(60))
    return root


def test_a_folder_lists_its_files_with_labels_keys_and_error_items(folder):
    items = read_items(folder, _Model("image"))
    assert [(i.path, i.label) for i in items] == [("cat/10.png", "cat"), ("cat/20.png", "cat"), ("dog/30.png", "dog"),
                                                   ("readme.md", None), ("top.png", None)]
    assert items[0].input_id == input_id(_png(10)) and items[0].data == _png(10) and items[0].error is None
    assert items[3].error == f"readme.md is not an image file Lumen reads ({', '.join(UPLOAD_TYPES)})."
    assert items[3].data is None
    with pytest.raises(InputError, match="not an image file"):
        load_item(_Model("image"), items[3])
    assert load_item(_Model("image"), items[0]).shape == (8, 8, 3)
    assert [i.path for i in read_items(folder, _Model("image"), limit=2)] == ["cat/10.png", "cat/20.png"]


def test_a_zip_lists_the_same_as_its_folder(folder, tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
        z.writestr("__MACOSX/cat/._10.png", b"resource fork")
    listed = read_items(archive, _Model("image"))
    assert [(i.path, i.label, i.input_id, i.error) for i in listed] == \
        [(i.path, i.label, i.input_id, i.error) for i in read_items(folder, _Model("image"))]


def test_a_corrupt_image_is_an_error_on_the_worker_not_on_the_driver(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (entry,) = file_items(tmp_path, UPLOAD_TYPES, "image")
    assert entry.error is None  # listed (its bytes hashed): the worker decodes it and says why it cannot
    with pytest.raises(InputError, match="corrupt|not an image"):
        load_item(_Model("image"), entry)


def test_missing_data_and_a_file_that_is_no_folder_are_sentences(tmp_path):
    with pytest.raises(InputError, match="does not exist.*digits, tweets, breast_cancer"):
        read_items(tmp_path / "nothing", _Model("image"))
    (tmp_path / "one.png").write_bytes(_png(1))
    with pytest.raises(InputError, match="neither a folder nor a ZIP"):
        read_items(tmp_path / "one.png", _Model("image"))


def test_a_file_over_the_upload_limit_becomes_an_error_item(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMLIT_SERVER_MAX_UPLOAD_SIZE", "1")
    (tmp_path / "big.png").write_bytes(b"\0" * (1024 * 1024 + 1))
    (entry,) = file_items(tmp_path, UPLOAD_TYPES, "image")
    assert entry.data is None and entry.error.startswith("The file is 1.0 MB; the limit is 1 MB")


def test_texts_from_a_csv_say_which_columns_and_from_a_txt_one_a_line(tmp_path):
    pd.DataFrame({"id": [1, 2, 3], "Review": ["good film", "", "bad film"], "Sentiment": ["pos", "neg", "neg"]}) \
        .to_csv(tmp_path / "reviews.csv", index=False)
    notes = []
    items = read_items(tmp_path / "reviews.csv", _Model("text"), notes.append)
    assert notes == ["The texts are read from column 'Review', their labels from column 'Sentiment'."]
    assert [(i.path, i.label, i.error) for i in items] == [("reviews.csv#row 1", "pos", None),
                                                           ("reviews.csv#row 2", "neg", "The row has no text."),
                                                           ("reviews.csv#row 3", "neg", None)]
    assert items[0].input_id == input_id("good film".encode("utf-8"))
    (tmp_path / "lines.txt").write_text("first one\n\nsecond one\n")
    assert [(i.path, i.data) for i in read_items(tmp_path / "lines.txt", _Model("text"))] == \
        [("lines.txt#line 1", b"first one"), ("lines.txt#line 3", b"second one")]
    pd.DataFrame({"a": ["x"], "b": ["y"]}).to_csv(tmp_path / "no_text.csv", index=False)
    with pytest.raises(InputError, match="no text column"):
        read_items(tmp_path / "no_text.csv", _Model("text"))


def test_a_table_rows_key_is_its_features_canonical_json():
    assert canonical_row({"b": 1.5, "a": "x"}) == b'{"a":"x","b":1.5}'


def test_a_job_cancelled_before_it_starts_writes_its_manifest_and_runs_nothing(tmp_path):
    from explainers.batch.job import run_job
    from explainers.batch.store import read_manifest

    cancel = threading.Event()
    cancel.set()
    summary = run_job("breast_cancer", "tabular:breast_cancer:linear", {"shap-linear": {}}, tmp_path, limit=5,
                      cancel=cancel)
    assert summary.cancelled and summary.done == 0 and summary.total == 5 and summary.workers == 0
    manifest = read_manifest(tmp_path)
    assert manifest["status"] == "cancelled" and manifest["n_items"] == 5 and manifest["bundled"] == "breast_cancer"


def test_unknown_methods_and_parameters_are_said_before_any_work(tmp_path):
    from explainers.batch.job import run_job
    from models.errors import ExplainerError

    with pytest.raises(ExplainerError, match="shap-linear has no parameter nope"):
        run_job("breast_cancer", "tabular:breast_cancer:linear", {"shap-linear": {"nope": 1}}, tmp_path / "a")
    assert not (tmp_path / "a").exists()
