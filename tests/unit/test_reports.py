"""Report export: HTML (self-contained, escaped), PDF (opens, images, methods), bundle (lossless, safe to read)."""

import hashlib
import io
import json
import struct
import zipfile
from html.parser import HTMLParser

import numpy as np
import pypdf
import pytest
import torch

from explainers.core.explanation import Explanation
from models.errors import InputError
from reports.bundle import MANIFEST, read_bundle, write_bundle
from reports.html import script_json, to_html
from reports.pdf import to_pdf
from reports.report import (
    HASH_OF_FILE,
    HASH_OF_PARAMETERS,
    Agreement,
    ModelIdentity,
    ReportItem,
    environment,
    file_sha256,
    make_item,
    model_identity,
    new_report,
    parameters_sha256,
)
from tests.no_writes import forbid_writes

SCRIPT = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    model = ModelIdentity("tiny" + ATTR, "hand-made " + SCRIPT, hashlib.sha256(b"w").hexdigest(), HASH_OF_FILE)
    image_e = Explanation(rng.random((24, 32)), "grad-cam", "image", "tiny", 3, "cat" + ATTR,
                          params={"seed": 7, "note": SCRIPT}, runtime_s=0.25, n_forward=1, n_backward=1,
                          extras={"mask": rng.integers(-5, 5, (4, 4)).astype(np.int16), "info": {"k": [1, 2]}})
    tokens = ["I", "love", SCRIPT, "ü", "love"]
    text_e = Explanation(rng.standard_normal(5), "integrated-gradients", "text", "tiny", 1, "positive",
                         tokens=tokens, base_value=0.25, extras={"steps": 16})
    gen_e = Explanation(rng.standard_normal((3, 4)), "attention-rollout", "generation", "tiny",
                        tokens=["a", SCRIPT, "c", "d"], target_tokens=["x", "y" + ATTR, "z"],
                        extras={"layers": rng.standard_normal((2, 3, 4)).astype(np.float16)})
    tab_e = Explanation(rng.standard_normal(3), "shap-tree", "tabular", "tiny", 0, "malignant",
                        feature_names=["radius", "texture" + ATTR, "area"], base_value=-1.5,
                        extras={"interactions": rng.standard_normal((3, 3))})
    craft_e = Explanation(np.array([0.5, 0.3, 0.2]), "craft", "image", "tiny", 3, "cat", params={"seed": 0},
                          extras={"importance_local": rng.random((2, 3)).astype(np.float32),
                                  "concept_maps": rng.random((2, 3, 2, 2)).astype(np.float32),
                                  "concept_bank": rng.random((3, 8)).astype(np.float32),
                                  "concept_crops": rng.integers(0, 256, (3, 2, 8, 8, 3), dtype=np.uint8),
                                  "predictions": ["cat", "dog"], "metrics": {"sparsity": 0.4},
                                  "clusters": {"prevalence": [0.5, 0.5, 0.0]}, "n_images": 2})
    agreement = Agreement(["grad-cam", "integrated-gradients" + ATTR], [[1.0, 0.25], [0.25, 1.0]], "spearman")
    items = [
        ReportItem(image_e, image, model, [(3, "cat" + ATTR, 0.75), (5, "dog", 0.125)], {"deletion_auc": 0.125},
                   agreement, input_name="photo" + ATTR + ".png",
                   view_options={"image_overlay": {"colormap": "Viridis", "opacity": 0.25, "percentile": 95.0}}),
        ReportItem(text_e, "I love " + SCRIPT + " ü love — Привет", model, [(1, "positive", 0.9)], {}, agreement),
        ReportItem(gen_e, "a " + SCRIPT + " c d", model),
        ReportItem(tab_e, {"radius": np.float64(1.5), "texture" + ATTR: SCRIPT, "area": 3}, model, [(0, "malignant", 0.6)]),
        ReportItem(craft_e, [image, image[::-1].copy()], model, input_name=ATTR),
    ]
    return new_report("Report " + SCRIPT + ATTR, items)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self.text, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def test_script_json_cannot_close_its_script_and_stays_the_same_json():
    obj = {"a": "</script><script>alert(1)</script>", "b": "x & y <!-- z -->", "c": "\u2028"}
    safe = script_json(json.dumps(obj))
    assert not set("<>&") & set(safe) and "\u2028" not in safe
    assert json.loads(safe) == obj


def test_html_runs_only_its_own_scripts_and_shows_every_explanation(report):
    page = to_html(report)
    parser = _Tags()
    parser.feed(page)
    figures = [a for t, a in parser.tags if t == "div" and a.get("class") == "figure"]
    scripts = [a for t, a in parser.tags if t == "script"]
    # Plotly once, then one script per figure; none with attributes, none injected
    assert len(scripts) == 1 + len(figures) and all(a == {} for a in scripts)
    assert "Plotly.newPlot" not in parser.scripts[0] and len(parser.scripts[0]) > 1_000_000
    for body in parser.scripts[1:]:
        assert body.startswith("(function(){var f=") and "<" not in body and "alert(1)</" not in body
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
        for name in ("src", "href"):
            assert not str(attrs.get(name, "")).startswith(("http", "//")), "must open offline"
    # the injected strings are shown as text
    text = "".join(parser.text)
    assert SCRIPT in text and ATTR in text
    sections = [a for t, a in parser.tags if t == "section" and a.get("class") == "item"]
    assert [s["data-method"] for s in sections] == [i.explanation.method for i in report.items]
    assert page.count("Agreement between explainers") == 1 and "Environment" in text
    # one figure per image, text (bar), generation, craft item, and the agreement matrix; the tabular item two (its
    # bars, and the heatmap of the TreeSHAP interaction values in its extras)
    assert len(figures) == 7


def test_html_token_highlight_colours_follow_the_sign():
    from reports.figures.token_highlight import token_html

    e = Explanation(np.array([1.0, -0.5, 0.0]), "occlusion", "text", "m", tokens=["up", "down", "<b>"], signed=True)
    out = token_html(None, e)
    parser = _Tags()
    parser.feed(out)
    spans = [a for t, a in parser.tags if t == "span"]
    assert "rgba(214,39,40,0.800)" in spans[0]["style"]  # strongest positive: full red
    assert "rgba(31,119,180,0.400)" in spans[1]["style"]  # half as strong, negative: blue
    words = " ".join(parser.text).split()
    assert words[:3] == ["up", "down", "<b>"] and "<b>" not in out
    assert " ".join(words[3:]).startswith("relevance: red raises the class score")  # then the legend, below the text


def test_pdf_opens_with_images_and_every_method(report):
    data = to_pdf(report)
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= len(report.items)
    assert sum(len(page.images) for page in reader.pages) >= 3  # image input, overlay, craft crops
    text = "".join(page.extract_text() for page in reader.pages)
    for item in report.items:
        assert item.explanation.method in text
    assert "Привет" in text  # a Unicode font is embedded


def test_pdf_prints_chinese_japanese_and_arabic(caplog):
    tokens = ["[CLS]", "東京", "は", "首都", "مرحبا", "한국", "[SEP]"]
    e = Explanation(scores=np.linspace(-1, 1, len(tokens), dtype=np.float32), method="occlusion", modality="text",
                    model="m", target=1, target_label="正面", tokens=tokens)
    with caplog.at_level("WARNING", logger="fpdf"):
        data = to_pdf(new_report("東京", [ReportItem(e, "東京は首都です مرحبا 한국", ModelIdentity("m"))]))
    assert not [r for r in caplog.records if "missing" in r.getMessage()], caplog.text  # every glyph has a font
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "東京は首都です" in text and "한국" in text and "مرحبا" in text
    fonts = {str(f.get_object()["/BaseFont"]) for page in reader.pages for f in page["/Resources"]["/Font"].values()}
    assert any("DroidSansFallback" in f for f in fonts) and any("NanumGothic" in f for f in fonts)


def test_pdf_without_dejavu_falls_back_to_helvetica(monkeypatch):
    import reports.pdf

    monkeypatch.setattr(reports.pdf, "dejavu_fonts", lambda: None)
    e = Explanation(scores=np.array([0.0, -1.0, 0.5], dtype=np.float32), method="occlusion", modality="text",
                    model="m", target=1, target_label="positive", tokens=["[CLS]", "awful", "東京"])
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(to_pdf(
        new_report("r", [ReportItem(e, "awful 東京", ModelIdentity("m"))])))).pages)
    assert "awful #1" in text and "?? #2" in text  # isolates dropped, what Latin-1 lacks printed as '?'


def _roundtrip_equal(a: ReportItem, b: ReportItem):
    assert a.explanation.to_json() == b.explanation.to_json()
    if isinstance(a.input, np.ndarray):
        assert b.input.dtype == a.input.dtype and np.array_equal(a.input, b.input)
    elif isinstance(a.input, list):
        assert len(a.input) == len(b.input) and all(np.array_equal(x, y) for x, y in zip(a.input, b.input))
    else:
        assert a.input == b.input and type(a.input) is type(b.input)
    assert (a.model, a.prediction, a.metrics, a.input_name) == (b.model, b.prediction, b.metrics, b.input_name)
    assert a.view_options == b.view_options
    assert (a.agreement is None) == (b.agreement is None)
    if a.agreement is not None:
        assert a.agreement.same_as(b.agreement)


def test_bundle_round_trip_is_lossless(report):
    data = write_bundle(report)
    back = read_bundle(data)
    assert back.title == report.title and back.environment == report.environment
    assert len(back.items) == len(report.items)
    for a, b in zip(report.items, back.items):
        _roundtrip_equal(a, b)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        arrays = np.load(io.BytesIO(zf.read(manifest["items"][2]["arrays"])))
        assert np.array_equal(arrays["scores"], report.items[2].explanation.scores)
        assert np.array_equal(arrays["extra_layers"], report.items[2].explanation.extras["layers"])
        assert any(name.endswith(".png") and "figure" in name for name in zf.namelist())


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


@pytest.mark.parametrize("name", ["../x", "items/../../x", "/etc/x", "C:/x", "a\\..\\x"])
def test_bundle_refuses_unsafe_names(report, name):
    entries = _members(write_bundle(report))
    entries[name] = b"payload"
    with pytest.raises(InputError, match="unsafe file name"):
        read_bundle(_zip(entries))


def test_bundle_refuses_a_declared_size_over_the_limit(report):
    entries = _members(write_bundle(report))
    entries["items/001/big.bin"] = bytes(2_000_000)
    with pytest.raises(InputError, match="over the limit"):
        read_bundle(_zip(entries), max_total_bytes=1_000_000)


def test_bundle_refuses_a_member_that_unpacks_beyond_its_declared_size(report):
    entries = _members(write_bundle(report))
    entries["bomb.bin"] = bytes(3_000_000)
    data = bytearray(_zip(entries))
    # lie about bomb.bin's uncompressed size (10 bytes) in its local header and in the central directory
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        name_at = {b"PK\x03\x04": 30, b"PK\x01\x02": 46}[signature]
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_at: start + name_at + 8] == b"bomb.bin":
                struct.pack_into("<I", data, start + offset, 10)
            start += 4
    with pytest.raises(InputError, match="bomb.bin.*(declared size|damaged)"):
        read_bundle(bytes(data))


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop(MANIFEST), "no manifest"),
    (lambda m: m.__setitem__(MANIFEST, b"{not json"), "not valid JSON"),
    (lambda m: m.__setitem__(MANIFEST, b'{"format": "other"}'), "another format"),
    (lambda m: m.__setitem__("items/001/input.png", m["items/001/input.png"] + b"x"), "SHA-256"),
    (lambda m: m.__setitem__("extra.txt", b"x"), "does not list"),
    (lambda m: m.pop("items/002/input.txt"), "missing"),
])
def test_bundle_refuses_a_missing_or_invalid_manifest_and_tampering(report, change, message):
    entries = _members(write_bundle(report))
    change(entries)
    with pytest.raises(InputError, match=message):
        read_bundle(_zip(entries))


def test_bundle_refuses_what_is_not_a_zip():
    with pytest.raises(InputError, match="not a readable ZIP"):
        read_bundle(b"%PDF-1.7 not a zip")


def test_reading_a_bundle_writes_nothing_to_disk(report, monkeypatch):
    data = write_bundle(report)
    forbid_writes(monkeypatch)
    assert len(read_bundle(data).items) == len(report.items)


def test_parameters_hash_is_deterministic_and_sensitive():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    b = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    b.load_state_dict(a.state_dict())
    assert parameters_sha256(a) == parameters_sha256(b)
    reordered = dict(reversed(list(a.state_dict().items())))
    assert parameters_sha256(reordered) == parameters_sha256(a)
    with torch.no_grad():
        b[0].weight[0, 0] += 1e-6
    assert parameters_sha256(a) != parameters_sha256(b)
    renamed = {("x" + k): v for k, v in a.state_dict().items()}
    assert parameters_sha256(renamed) != parameters_sha256(a)
    halved = {k: v.half() if v.is_floating_point() else v for k, v in a.state_dict().items()}
    assert parameters_sha256(halved) != parameters_sha256(a)


def test_model_identity_hashes_the_weights_file_or_else_the_parameters(tmp_path):
    module = torch.nn.Linear(2, 2)
    path = tmp_path / "w.pth"
    torch.save(module.state_dict(), path)
    by_file = model_identity(module, "local", weights=path)
    assert by_file.sha256_of == HASH_OF_FILE and by_file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == by_file.sha256
    by_params = model_identity(module, "local")
    assert by_params.sha256_of == HASH_OF_PARAMETERS and by_params.sha256 == parameters_sha256(module)


def test_environment_lists_versions_and_seeds():
    env = environment([Explanation(np.zeros(2), "rise", "image", "m", params={"seed": 4}),
                       Explanation(np.zeros(2), "rise", "image", "m", params={"seed": 5}),
                       Explanation(np.zeros(2), "grad-cam", "image", "m")])
    assert env["packages"]["numpy"] == np.__version__ and env["packages"]["torch"] == torch.__version__.split("+")[0]
    assert env["seeds"] == {"rise": [4, 5]} and env["python"] and env["device"]


def test_report_item_refuses_inputs_it_cannot_export():
    e = Explanation(np.zeros(2), "m", "image", "m")
    with pytest.raises(InputError):
        ReportItem(e, np.zeros((4, 4, 3), dtype=np.float32), ModelIdentity("m"))
    with pytest.raises(InputError):
        ReportItem(e, 3.5, ModelIdentity("m"))
    with pytest.raises(InputError):
        Agreement(["a", "b"], np.eye(3), "spearman")


def test_a_real_image_explanation_exports(cnn, chelsea):
    from explainers import explain

    e = explain(cnn, chelsea, method="grad-cam")
    item = make_item(cnn, chelsea, e, source="embedded", input_name="chelsea.png")
    assert item.prediction[0][1] == "Egyptian cat" and item.model.sha256_of == HASH_OF_PARAMETERS
    report = new_report("Chelsea", [item])
    assert report.environment["seeds"] == ({"grad-cam": [e.params["seed"]]} if "seed" in e.params else {})
    _roundtrip_equal(item, read_bundle(write_bundle(report)).items[0])
    assert 'data-method="grad-cam"' in to_html(report)
    assert len(pypdf.PdfReader(io.BytesIO(to_pdf(report))).pages) >= 1
