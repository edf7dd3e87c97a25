"""Fuzzing every loader of what people bring: random bytes and mutated valid files.

Property, for each loader: the input gives a valid result, or a ``LumenError`` whose
message is one sentence for a person (no traceback, not empty, not a wall of text).
Any other exception fails. Inputs are random bytes, and valid files of the kind
mutated by bit flips, truncation, insertions, deletions and overwrites (placed near
the start, near the end — where ZIP archives keep their directory — or anywhere).

Derandomised, so CI tries the same inputs every run; ``EXAMPLES`` is the number of
inputs tried per loader, and the counts actually tried are printed at the end.
For a deeper search, set ``LUMEN_FUZZ_SCALE`` (e.g. 10 tries ten times as many inputs)
and ``LUMEN_FUZZ_SEED`` (another seed tries other inputs).
"""

import functools
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from models.errors import LumenError

EXAMPLES = {
    "image": 500,
    "image-zip": 200,
    "text": 400,
    "prompt": 200,
    "csv": 400,
    "weights": 150,
    "labels": 200,
    "torchscript": 60,
    "hf-directory": 40,
    "skops": 80,
    "booster": 16,  # each reads the file in a child process first (a crash there is a sentence): seconds apiece
    "bundle": 200,
    "bundle-rehashed": 200,
}
TRIED: Counter = Counter()  # inputs given to each loader
LOADED: Counter = Counter()  # of which gave a result rather than an error

pytestmark = pytest.mark.filterwarnings("ignore")  # torch.jit deprecation, PIL and pandas notices on junk input


SCALE = float(os.environ.get("LUMEN_FUZZ_SCALE", "1"))
SEED = os.environ.get("LUMEN_FUZZ_SEED")


def fuzz(loader: str):
    """Hypothesis settings of one loader's test (plus ``seed`` when LUMEN_FUZZ_SEED is set)."""
    chosen = settings(max_examples=max(1, round(EXAMPLES[loader] * SCALE)), deadline=None,
                      derandomize=SEED is None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                             HealthCheck.large_base_example])
    if SEED is None:
        return chosen
    return lambda test: seed(int(SEED))(chosen(test))


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    yield
    line = "fuzz inputs tried per loader (of which loaded): " + ", ".join(
        f"{k} {TRIED[k]} ({LOADED[k]})" for k in EXAMPLES)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


# ---------------------------------------------------------------- the property


_TRACEBACK = re.compile(r"Traceback|File \"|line \d+, in ")


def check_sentence(err: LumenError) -> None:
    message = str(err)
    assert message and message == message.strip(), repr(message)
    assert not _TRACEBACK.search(message), message
    assert len(message) <= 600, f"{len(message)} characters: {message[:200]}…"
    assert message.rstrip("'\")")[-1] in ".?!", message


def attempt(loader: str, fn, *args, **kwargs):
    """``fn(*args)``'s result, or None after checking the LumenError it raised; anything else propagates."""
    TRIED[loader] += 1
    try:
        result = fn(*args, **kwargs)
    except LumenError as err:
        check_sentence(err)
        return None
    LOADED[loader] += 1
    return result


# ---------------------------------------------------------------- hostile bytes

_SPECIAL = st.sampled_from([b"\x00", b"\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
                            b"\x80\x00\x00\x00", b"\xff\xff\xff\xff\xff\xff\xff\x7f"])


def _apply(data: bytes, ops) -> bytes:
    out = bytearray(data)
    for kind, where, arg in ops:
        pos = min(where, len(out))
        if kind == "flip" and out:
            out[min(pos, len(out) - 1)] ^= 1 << arg
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = arg
        elif kind == "delete":
            del out[pos: pos + arg]
        elif kind == "overwrite":
            out[pos: pos + len(arg)] = arg
    return bytes(out)


def mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    n = len(valid)
    where = st.one_of(st.integers(0, min(n, 512)), st.integers(max(0, n - 512), n), st.integers(0, n))
    op = st.one_of(
        st.tuples(st.just("flip"), where, st.integers(0, 7)),
        st.tuples(st.just("truncate"), where, st.just(0)),
        st.tuples(st.just("insert"), where, st.one_of(st.binary(min_size=1, max_size=32), _SPECIAL)),
        st.tuples(st.just("delete"), where, st.integers(1, 64)),
        st.tuples(st.just("overwrite"), where, st.one_of(st.binary(min_size=1, max_size=8), _SPECIAL)),
    )
    return st.lists(op, min_size=1, max_size=4).map(lambda ops: _apply(valid, ops))


def hostile(valid_files) -> st.SearchStrategy[bytes]:
    """Random bytes, or one of the valid files (untouched or mutated)."""
    valid = st.sampled_from(list(valid_files))
    return st.one_of(st.binary(max_size=4096), valid, valid.flatmap(mutations), valid.flatmap(mutations))


def lazily(make_files):
    """``hostile`` over files built at first use (so collecting the tests stays cheap)."""
    return st.deferred(lambda: hostile(make_files()))


# ---------------------------------------------------------------- images


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@functools.cache
def valid_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (5, 7, 4), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: exif_transpose has work to do
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    return [
        _encoded(rgb, "PNG"),
        _encoded(rgba, "PNG"),
        _encoded(rgb.convert("P"), "PNG", transparency=0),
        _encoded(Image.fromarray(rng.integers(0, 65535, (5, 7), dtype=np.uint16)), "PNG"),
        _encoded(rgb, "JPEG", exif=exif),
        _encoded(rgb.convert("CMYK"), "JPEG"),
        _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        _encoded(rgb, "TIFF"),
        _encoded(rgb, "TIFF", compression="tiff_lzw", exif=exif),
        _encoded(rgb, "BMP"),
        _encoded(rgba, "WEBP", lossless=True),
    ]


def _is_rgb(result) -> bool:
    return isinstance(result, np.ndarray) and result.dtype == np.uint8 and result.ndim == 3 and result.shape[2] == 3


def load_image(data: bytes):
    from models.inputs.images import decode_image

    result = decode_image(data)
    assert _is_rgb(result) and result.size > 0
    return result


@fuzz("image")
@given(lazily(valid_images))
def test_image_decoder(data):
    attempt("image", load_image, data)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@functools.cache
def valid_image_zips() -> list[bytes]:
    png, jpeg = valid_images()[0], valid_images()[4]
    return [_zip({"a.png": png, "b/c.jpg": jpeg, "notes.txt": b"hello"}), _zip({"only.png": png})]


def load_image_zip(data: bytes):
    from models.inputs.images import decode_zip

    result = decode_zip(data)
    assert result and all(isinstance(n, str) and _is_rgb(a) for n, a in result)
    return result


@fuzz("image-zip")
@given(lazily(valid_image_zips))
def test_image_zip_decoder(data):
    attempt("image-zip", load_image_zip, data)


# ---------------------------------------------------------------- texts and prompts

_TEXTS = ["A wonderful, heartfelt film.", "naïve café 🙂 — ça va?", "東京は晴れ", "שלום עולם", "e\u0301\u200b\ufeff!",
          "line one\nline two\ttab"]


def valid_texts() -> list[bytes]:
    return [t.encode("utf-8") for t in _TEXTS] + ["\ufeffBOM first".encode("utf-8")]


_ODD_CHARACTERS = st.characters(categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"])  # surrogates, controls...
_ANY_TEXT = st.one_of(hostile(valid_texts()), st.text(max_size=300),
                      st.text(st.characters(codec=None, categories=None), max_size=100),
                      st.text(_ODD_CHARACTERS, max_size=30))


@functools.cache
def text_model():
    from tests.tiny_text import bag_model

    return bag_model()


def load_text(x):
    """What explain() does to a text first (clean_text), then the classifier's tokenisation."""
    from models.inputs.texts import clean_text

    model = text_model()
    encoded = model.encode(clean_text(x))
    assert encoded.input_ids.shape[1] == len(encoded.tokens) <= model.max_length
    return encoded


@fuzz("text")
@given(_ANY_TEXT)
def test_text_input_and_encoding(x):
    attempt("text", load_text, x)


@functools.cache
def prompt_model():
    from models.adapters.causal_lm import CausalLM
    from tests.tiny_lm import KeyTokenLM
    from tests.tiny_text import tokenizer

    return CausalLM("tiny-key-lm", KeyTokenLM(), tokenizer(), device="cpu", max_prompt_tokens=16)


def load_prompt(x, target=None):
    """explain()'s generation input (prepare_prompt), then the prompt and target tokenisation."""
    from models.adapters.causal_lm import prepare_prompt

    model = prompt_model()
    encoded = model.encode(prepare_prompt(x), target)
    assert 0 < len(encoded.prompt_ids) <= model.max_prompt_tokens
    return encoded


@fuzz("prompt")
@given(_ANY_TEXT, st.one_of(st.none(), st.text(max_size=40), st.lists(st.integers(-3, 40), max_size=5)))
def test_prompt_preparation(x, target):
    attempt("prompt", load_prompt, x, target)


# ---------------------------------------------------------------- CSV


def valid_csvs() -> list[bytes]:
    return [
        b"age,city,income,label\n34,Paris,52000.5,yes\n51,Lyon,,no\n29,\"Nice, FR\",41000,yes\n",
        "poids;taille;espèce\n1,5;20;chat\n30;80;chien\n".encode("cp1252"),
        b"a\tb\tc\n1\t2\t3\n4\t5\t6\n7\t8\t9\n",
        b"\xef\xbb\xbfx|y\n1|a\n2|b\n",
    ]


def load_csv(data: bytes):
    """What the Tables page does with an uploaded CSV: read it, take the last column as target, build the schema."""
    from models.inputs.tables import TableSchema, prepare_target, read_csv

    frame, notes = read_csv(data)
    assert frame.shape[1] >= 1 and all(isinstance(n, str) for n in notes)
    dataset = prepare_target(frame, frame.columns[-1])
    return TableSchema.from_frame(dataset.features).encode(dataset.features)


@fuzz("csv")
@given(hostile(valid_csvs()))
def test_csv_reader(data):
    attempt("csv", load_csv, data)


# ---------------------------------------------------------------- model weights


@functools.cache
def tiny_state():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False, num_classes=3).state_dict()


@functools.cache
def valid_weights() -> list[bytes]:
    from safetensors.torch import save

    state = tiny_state()
    buf = io.BytesIO()
    torch.save({"state_dict": state, "epoch": 3, "class_names": ["a", "b", "c"]}, buf)
    plain = io.BytesIO()
    torch.save(state, plain)
    return [plain.getvalue(), buf.getvalue(), save({k: v.contiguous() for k, v in state.items()},
                                                      metadata={"class_names": json.dumps(["a", "b", "c"])})]


def load_weights(data: bytes, suffix: str = ".pth"):
    """load_model("timm:…", weights=PATH), the path torchvision weights take too (models/sources/weights.py)."""
    from models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"w{suffix}"
        path.write_bytes(data)
        model = load_model("timm:test_resnet", weights=path, device="cpu")
    assert len(model.labels) == model.forward(torch.zeros(1, 3, 32, 32)).shape[1]
    return model


@fuzz("weights")
@given(lazily(valid_weights), st.sampled_from([".pth", ".safetensors", ".bin"]))
def test_weights_loader(data, suffix):
    attempt("weights", load_weights, data, suffix)


def valid_labels() -> list[bytes]:
    return [b'["cat", "dog", "bird"]', b'{"0": "cat", "1": "dog", "2": "bird"}']


def load_labels(data: bytes, suffix: str = ".json"):
    """The optional class-names file uploaded with a model, for a 3-class head."""
    from models.sources.labels import resolve_labels

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"names{suffix}"
        path.write_bytes(data)
        names = resolve_labels(3, path)
    assert len(names) == 3 and all(isinstance(n, str) for n in names)
    return names


@fuzz("labels")
@given(hostile([*valid_labels(), b"cat\ndog\nbird\n"]), st.sampled_from([".json", ".txt"]))
def test_class_names_file(data, suffix):
    attempt("labels", load_labels, data, suffix)


@functools.cache
def valid_torchscript() -> list[bytes]:
    import timm

    module = timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 32, 32)), buf, _extra_files={"labels.txt": "a\nb\nc"})
    return [buf.getvalue()]


def load_torchscript(data: bytes):
    from models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        path.write_bytes(data)
        return load_model(f"torchscript:{path}", input_size=32, device="cpu")


@fuzz("torchscript")
@given(lazily(valid_torchscript))
def test_torchscript_loader(data):
    attempt("torchscript", load_torchscript, data)


@functools.cache
def valid_hf_directories() -> dict[str, dict[str, bytes]]:
    """Two save_pretrained directories (a tiny ViT image classifier, a tiny BERT text classifier), file by file."""
    import transformers as T

    from tests.tiny_text import tokenizer

    dirs = {}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        vit = T.ViTForImageClassification(T.ViTConfig(image_size=16, patch_size=8, hidden_size=8, num_hidden_layers=1,
                                                      num_attention_heads=2, intermediate_size=16, num_labels=2))
        vit.save_pretrained(Path(tmp) / "vit")
        T.ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(Path(tmp) / "vit")
        bert = T.BertForSequenceClassification(T.BertConfig(vocab_size=tokenizer().vocab_size, hidden_size=8,
                                                            num_hidden_layers=1, num_attention_heads=2,
                                                            intermediate_size=16, max_position_embeddings=32))
        bert.save_pretrained(Path(tmp) / "bert")
        tokenizer().save_pretrained(Path(tmp) / "bert")
        for name in ("vit", "bert"):
            dirs[name] = {p.name: p.read_bytes() for p in (Path(tmp) / name).iterdir() if p.is_file()}
    return dirs


@st.composite
def hostile_hf_file(draw):
    """(directory kind, file name, its hostile bytes): one JSON or safetensors file of a valid directory damaged."""
    dirs = valid_hf_directories()
    kind = draw(st.sampled_from(sorted(dirs)))
    name = draw(st.sampled_from(sorted(n for n in dirs[kind] if n.endswith((".json", ".safetensors")))))
    return kind, name, draw(hostile([dirs[kind][name]]))


def load_hf_directory(kind: str, damaged_name: str | None = None, damaged_data: bytes = b""):
    """load_model("hf:DIR") with one of its files (perhaps) replaced."""
    from models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in valid_hf_directories()[kind].items():
            (Path(tmp) / name).write_bytes(damaged_data if name == damaged_name else data)
        return load_model(f"hf:{tmp}", device="cpu")


@fuzz("hf-directory")
@given(hostile_hf_file())
def test_hf_directory_loader(damaged):
    attempt("hf-directory", load_hf_directory, *damaged)


@functools.cache
def valid_skops() -> tuple[list[bytes], list[str]]:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from models.inputs.tables import load_dataset

    data = load_dataset("iris")
    model = LogisticRegression(max_iter=200).fit(data.features, data.frame[data.target])
    blob = sio.dumps(model)
    return [blob], sorted(sio.get_untrusted_types(data=blob))


def load_skops(data: bytes):
    """load_model("skops:PATH") trusting only the types the untouched file needs."""
    from models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(data)
        return load_model(f"skops:{path}", data="iris", trusted=valid_skops()[1])


@fuzz("skops")
@given(st.deferred(lambda: hostile(valid_skops()[0])))
def test_skops_loader(data):
    attempt("skops", load_skops, data)


@functools.cache
def valid_boosters() -> dict[str, bytes]:
    """A small model of each booster format, saved natively: {file name: bytes}."""
    from explainers.tabular.shap_methods import tree_model
    from models.adapters.tabular import train_model
    from models.inputs.tables import load_dataset

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for library, suffixes in (("xgboost", (".json", ".ubj")), ("lightgbm", (".txt",)), ("catboost", (".cbm",))):
            booster = tree_model(train_model(load_dataset("breast_cancer"), library, n_estimators=5))
            for suffix in suffixes:
                path = Path(tmp) / f"model{suffix}"
                booster.save_model(str(path))
                out[path.name] = path.read_bytes()
    return out


@st.composite
def hostile_booster(draw):
    name = draw(st.sampled_from(sorted(valid_boosters())))
    return name, draw(hostile([valid_boosters()[name]]))


def load_booster_file(file: tuple[str, bytes]):
    """load_model("LIBRARY:PATH") for a booster file (name, bytes), and its TreeSHAP with interactions on three rows."""
    from explainers import explain
    from models import load_model

    name, data = file
    library = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm", ".cbm": "catboost"}[Path(name).suffix]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        model = load_model(f"{library}:{path}", data="breast_cancer")
    return explain(model, model.background.iloc[:3], method="shap-tree", interactions=True)


@fuzz("booster")
@given(hostile_booster())
def test_booster_loader(damaged):
    attempt("booster", load_booster_file, damaged)


# ---------------------------------------------------------------- report bundles


@functools.cache
def valid_bundles() -> list[bytes]:
    from explainers.core.explanation import Explanation
    from reports.bundle import write_bundle
    from reports.report import HASH_OF_FILE, ModelIdentity, ReportItem, new_report

    rng = np.random.default_rng(0)
    model = ModelIdentity("tiny", "hand-made", "0" * 64, HASH_OF_FILE)
    image = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image_e = Explanation(rng.random((6, 8)), "grad-cam", "image", "tiny", 1, "cat", params={"seed": 0},
                          extras={"mask": rng.integers(0, 3, (2, 2)).astype(np.int16)})
    text_e = Explanation(rng.standard_normal(3), "occlusion", "text", "tiny", 0, "neg", tokens=["a", "b", "c"])
    items = [ReportItem(image_e, image, model, [(1, "cat", 0.9)], {"deletion": 0.1}),
             ReportItem(text_e, "a b c", model, [(0, "neg", 0.6)], {})]
    return [write_bundle(new_report("fuzz", items))]


def load_bundle(data: bytes):
    from reports.bundle import read_bundle

    return read_bundle(data)


@fuzz("bundle")
@given(lazily(valid_bundles))
def test_bundle_reader(data):
    attempt("bundle", load_bundle, data)


@st.composite
def rehashed_bundle(draw):
    """A bundle with one member mutated and the manifest's hashes updated: past the integrity check, into parsing."""
    with zipfile.ZipFile(io.BytesIO(valid_bundles()[0])) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    name = draw(st.sampled_from(sorted(members)))
    members[name] = draw(mutations(members[name]))
    if name != "manifest.json":
        import hashlib

        manifest["files"][name] = hashlib.sha256(members[name]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    return _zip(members)


@fuzz("bundle-rehashed")
@given(rehashed_bundle())
def test_bundle_reader_past_its_hashes(data):
    attempt("bundle-rehashed", load_bundle, data)


# ---------------------------------------------------------------- the untouched files do load


@pytest.mark.parametrize("load, files", [
    (load_image, valid_images), (load_image_zip, valid_image_zips), (load_text, valid_texts),
    (load_prompt, valid_texts), (load_csv, valid_csvs), (load_weights, valid_weights), (load_labels, valid_labels),
    (load_torchscript, valid_torchscript), (load_skops, lambda: valid_skops()[0]), (load_bundle, valid_bundles),
    (load_hf_directory, lambda: sorted(valid_hf_directories())),  # each directory kind, untouched
    (load_booster_file, lambda: list(valid_boosters().items())),
], ids=["image", "image-zip", "text", "prompt", "csv", "weights", "labels", "torchscript", "skops", "bundle", "hf",
        "booster"])
def test_the_valid_files_load(load, files):
    """Each loader accepts the files its fuzzing starts from: refusing everything would pass the property too."""
    for data in files():
        assert load(data) is not None
