"""Budgets on inputs, enforced before anything is decoded: a report bundle or an image ZIP whose few kilobytes would
decode to gigabytes of pixels, an over-long text, an over-long generation target. Each is refused with a sentence
naming the limit, and the process's memory does not grow while refusing it."""

import hashlib
import io
import json
import struct
import threading
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from explainers.core.explanation import Explanation
from models.errors import ExplainerError, InputError
from models.inputs.images import MAX_TOTAL_PIXELS, decode_image, decode_zip
from reports.bundle import MANIFEST, read_bundle, write_bundle
from reports.report import HASH_OF_FILE, ModelIdentity, ReportItem, new_report

MB = 1 << 20
SIDE = 7000  # 49 megapixels: under the per-image limit, so only a total budget refuses many of them


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """A valid 7000×7000 RGB PNG of one colour (147 MB decoded) in about 140 kB, built without holding its pixels."""
    row = b"\0" + bytes(3 * SIDE)  # filter byte + one black row
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(SIDE)) + z.flush()
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_growth(fn) -> tuple[int, BaseException | None]:
    """Bytes the resident set grew by, at its peak (sampled every millisecond), while ``fn()`` ran; and what it raised."""
    before, peak, done = _rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            done.wait(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    raised = None
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        raised = exc
    finally:
        done.set()
        sampler.join()
    return max(peak[0], _rss()) - before, raised


def refused_within(fn, error=InputError, budget=300 * MB) -> str:
    """``fn()`` raises ``error`` and the resident set grows by less than ``budget`` meanwhile; its sentence."""
    growth, raised = peak_growth(fn)
    assert isinstance(raised, error), raised
    assert growth < budget, f"refusing took {growth / MB:.0f} MB"
    return str(raised)


def test_the_memory_probe_sees_a_decode():
    """The probe is real: a passing 400 MB allocation shows up, so the checks below can fail."""
    growth, raised = peak_growth(lambda: np.ones(400 * MB, dtype=np.uint8).sum())
    assert raised is None and growth > 300 * MB


# ---------------------------------------------------------------- report bundles


def _image_report(n: int) -> dict[str, bytes]:
    """The members of a real bundle of ``n`` small image items."""
    rng = np.random.default_rng(0)
    model = ModelIdentity("tiny", "hand-made", hashlib.sha256(b"w").hexdigest(), HASH_OF_FILE)
    items = [ReportItem(Explanation(rng.random((8, 8)), "grad-cam", "image", "tiny", 0, "a"),
                        rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), model) for _ in range(n)]
    with zipfile.ZipFile(io.BytesIO(write_bundle(new_report("r", items)))) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rezip(members: dict[str, bytes], manifest: dict) -> bytes:
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in members.items() if name != MANIFEST}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            if name != MANIFEST:
                zf.writestr(name, data)
    return buf.getvalue()


def test_a_bundle_naming_one_big_png_n_times_is_refused_before_decoding(big_png):
    """The issue's bundle: a manifest that lists the same 7000×7000 PNG as the input of N items."""
    members = _image_report(1)
    manifest = json.loads(members[MANIFEST])
    members["items/001/input.png"] = big_png
    item = manifest["items"][0]
    manifest["items"] = [item] + [{**item, "explanation": f"items/{k:03d}/explanation.json"} for k in range(2, 9)]
    for k in range(2, 9):
        members[f"items/{k:03d}/explanation.json"] = members["items/001/explanation.json"]
    data = _rezip(members, manifest)
    assert len(data) < 1 * MB
    message = refused_within(lambda: read_bundle(data))
    assert "items/001/input.png" in message and "more than one item" in message


def test_a_bundle_whose_images_add_up_over_the_pixel_budget_is_refused_before_decoding(big_png):
    members = _image_report(5)  # 5 × 49 megapixels = 245 > 200
    for k in range(1, 6):
        members[f"items/{k:03d}/input.png"] = big_png
    data = _rezip(members, json.loads(members[MANIFEST]))
    message = refused_within(lambda: read_bundle(data))
    assert f"{5 * SIDE * SIDE / 1e6:,.0f} megapixels" in message
    assert f"up to {MAX_TOTAL_PIXELS / 1e6:,.0f} megapixels" in message


def test_a_bundle_within_the_pixel_budget_still_reads():
    members = _image_report(3)
    back = read_bundle(_rezip(members, json.loads(members[MANIFEST])))
    assert [item.input.shape for item in back.items] == [(8, 8, 3)] * 3


def test_a_bundle_whose_scores_are_a_huge_json_list_is_refused_before_parsing():
    """Scores as a plain JSON list of 50 million zeros: 100 MB of text in about 100 kB zipped, which
    json.loads would turn into gigabytes of Python objects."""
    members = _image_report(1)
    ex = json.loads(members["items/001/explanation.json"])
    ex["scores"] = "@SCORES@"
    text = json.dumps(ex).encode()
    members["items/001/explanation.json"] = text.replace(b'"@SCORES@"', b"[" + b"0," * 50_000_000 + b"0]")
    data = _rezip(members, json.loads(members[MANIFEST]))
    assert len(data) < 1 * MB
    message = refused_within(lambda: read_bundle(data))
    assert "values" in message and "2,000,000" in message


# ---------------------------------------------------------------- image ZIPs (the Concepts page)


def _zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_zip_of_200_copies_of_a_big_png_is_refused_before_decoding(big_png):
    """200 × 49 megapixels would decode to ~29 GB; every copy passes the per-image and per-byte checks."""
    data = _zip_of({f"img_{k:03d}.png": big_png for k in range(200)})
    message = refused_within(lambda: decode_zip(data))
    assert "200 images" in message and f"{200 * SIDE * SIDE / 1e6:,.0f} megapixels" in message
    assert f"up to {MAX_TOTAL_PIXELS / 1e6:,.0f} megapixels" in message


def test_a_zip_within_the_pixel_budget_decodes():
    small = io.BytesIO()
    Image.new("RGB", (5, 4), (1, 2, 3)).save(small, format="PNG")
    images = decode_zip(_zip_of({"b.png": small.getvalue(), "a.png": small.getvalue()}))
    assert [name for name, _ in images] == ["a.png", "b.png"] and images[0][1].shape == (4, 5, 3)


# ---------------------------------------------------------------- PNG text chunks


def _png_with_text(kind: bytes, n_chunks: int, size: int) -> bytes:
    """A 2×2 PNG carrying ``n_chunks`` compressed text chunks (zTXt or iTXt) that each unpack to ``size`` bytes."""
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, format="PNG")
    png = buf.getvalue()
    payload = zlib.compress(b"a" * size, 9)
    body = b"Comment\0\0" + payload if kind == b"zTXt" else b"Comment\0\1\0\0\0" + payload
    chunks = b"".join(_chunk(kind, body) for _ in range(n_chunks))
    at = png.index(b"IDAT") - 4
    return png[:at] + chunks + png[at:]


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
@pytest.mark.parametrize("n_chunks, size", [(1, 2 * MB), (70, 1 * MB - 1)])  # one chunk too large; too many in all
def test_oversized_png_text_chunks_are_named_as_such(kind, n_chunks, size):
    data = _png_with_text(kind, n_chunks, size)
    with pytest.raises(InputError, match=r"PNG's text metadata .* is larger than Lumen reads \(1 MB a chunk, 64 MB"):
        decode_image(data)
    members = _image_report(1)
    members["items/001/input.png"] = data
    with pytest.raises(InputError, match="bundle is not a readable PNG: The PNG's text metadata"):
        read_bundle(_rezip(members, json.loads(members[MANIFEST])))


def test_small_png_text_chunks_are_fine():
    assert decode_image(_png_with_text(b"zTXt", 2, 1000)).shape == (2, 2, 3)


# ---------------------------------------------------------------- texts


def test_a_text_over_the_character_limit_is_refused_without_tokenising():
    from models.inputs.texts import MAX_CHARS
    from tests.tiny_text import bag_model

    model = bag_model()
    message = refused_within(lambda: model.encode("good " * (MAX_CHARS // 5 + 1)))
    assert f"up to {MAX_CHARS:,}" in message


def test_a_long_text_is_read_up_to_the_models_token_limit_and_says_so():
    """A 100,000-character text: the classifier reads its first ``max_length`` tokens, and the note says how many
    of how many; tokenising the whole text (to count it) stays small."""
    from tests.tiny_text import bag_model

    model = bag_model()
    text = ("This film was wonderful and I loved every minute of it. " * 2000)[:100_000]
    growth, raised = peak_growth(lambda: model.encode(text))
    assert raised is None and growth < 100 * MB
    enc = model.encode(text)
    assert enc.input_ids.shape[1] == model.max_length
    assert f"reads at most {model.max_length}" in enc.warning and "of 100,000 characters" in enc.warning


# ---------------------------------------------------------------- generation targets


def test_a_3000_token_target_is_refused_before_any_pass():
    """The issue's target: 3,000 tokens with ``attention`` peaked at 10.2 GB. Refused, as text and as ids."""
    from explainers import explain
    from models.adapters.causal_lm import MAX_TARGET_CHARS, MAX_TARGET_TOKENS
    from tests.tiny_lm import tiny_lm

    model = tiny_lm()
    target = " ".join(f"w{1 + k % 19}" for k in range(3000))
    for method in ("attention", "occlusion"):
        message = refused_within(lambda: explain(model, "w1 w2 w3", method=method, target=target))
        assert f"{len(target):,} characters" in message and f"up to {MAX_TARGET_CHARS:,} characters" in message
        ids = [1 + k % 19 for k in range(3000)]
        message = refused_within(lambda: explain(model, "w1 w2 w3", method=method, target=ids))
        assert "3,000 tokens" in message and f"up to {MAX_TARGET_TOKENS} target tokens" in message
    assert model.n_forward == 0


def test_a_target_just_over_the_token_limit_is_refused_and_one_at_it_runs():
    from explainers import explain
    from models.adapters.causal_lm import MAX_TARGET_TOKENS
    from tests.tiny_lm import tiny_lm

    model = tiny_lm()
    words = lambda n: " ".join(f"w{1 + k % 19}" for k in range(n))  # noqa: E731
    with pytest.raises(InputError, match=f"has {MAX_TARGET_TOKENS + 1} tokens for tiny-key-lm; .*up to "
                                         f"{MAX_TARGET_TOKENS} target tokens"):
        model.encode("w1 w2", words(MAX_TARGET_TOKENS + 1))
    assert len(model.encode("w1 w2", words(MAX_TARGET_TOKENS)).target_ids) == MAX_TARGET_TOKENS
    e = explain(model, "w1 w2", method="attention", target=words(MAX_TARGET_TOKENS))
    assert e.scores.shape == (MAX_TARGET_TOKENS, 2)
    with pytest.raises(InputError, match=f"up to {MAX_TARGET_TOKENS} new tokens"):
        model.generate("w1 w2", MAX_TARGET_TOKENS + 1)


# ---------------------------------------------------------------- exports Lumen can import again


def _noise_report(n: int, side: int) -> object:
    """``n`` image items of incompressible noise, ``side``×``side``."""
    rng = np.random.default_rng(1)
    model = ModelIdentity("tiny", "hand-made", hashlib.sha256(b"w").hexdigest(), HASH_OF_FILE)
    items = [ReportItem(Explanation(rng.random((side, side)), "grad-cam", "image", "tiny", 0, "a"),
                        rng.integers(0, 256, (side, side, 3), dtype=np.uint8), model) for _ in range(n)]
    return new_report("r", items)


def test_an_export_over_the_upload_limit_is_refused_naming_its_size_and_the_limit(monkeypatch):
    from models.inputs import limits

    report = _noise_report(2, 300)
    size = len(write_bundle(report))
    assert 1 * MB < size < 3 * MB
    monkeypatch.setenv(limits.ENV, "1")  # the server's maxUploadSize, as the uploader would enforce it
    with pytest.raises(InputError, match=rf"The bundle is {size / MB:.1f} MB; Lumen imports bundles of up to 1 MB "
                                         r"\(server.maxUploadSize\)\. Remove some items"):
        write_bundle(report)
    monkeypatch.setenv(limits.ENV, "3")
    assert len(read_bundle(write_bundle(report)).items) == 2  # under the limit: it imports again


def test_an_export_over_what_a_bundle_may_unpack_or_decode_is_refused(monkeypatch):
    import models.inputs.images
    import reports.bundle

    report = _noise_report(2, 40)
    monkeypatch.setattr(reports.bundle, "MAX_TOTAL_BYTES", 20_000)
    with pytest.raises(InputError, match="would unpack to .* MB; Lumen imports bundles of up to 0 MB unpacked"):
        write_bundle(report)
    monkeypatch.undo()
    monkeypatch.setattr(models.inputs.images, "MAX_TOTAL_PIXELS", 3000)  # two 40×40 images: 3,200 pixels
    with pytest.raises(InputError, match="The report's 2 input images would decode to 0 megapixels"):
        write_bundle(report)
    monkeypatch.setattr(models.inputs.images, "MAX_TOTAL_PIXELS", 3200)  # export and import share the budget
    data = write_bundle(report)
    assert len(read_bundle(data).items) == 2
    monkeypatch.setattr(models.inputs.images, "MAX_TOTAL_PIXELS", 3199)
    with pytest.raises(InputError, match="bundle's 2 input images would decode"):
        read_bundle(data)


def test_scores_in_the_bundle_are_compressed():
    report = _noise_report(1, 8)
    report.items[0].explanation.scores = np.zeros((1000, 1000), np.float32)
    with zipfile.ZipFile(io.BytesIO(write_bundle(report))) as zf:
        info = zf.getinfo("items/001/arrays.npz")
        assert info.file_size < 100_000  # 4 MB of zeros, compressed inside the NPZ
        assert np.load(io.BytesIO(zf.read(info)))["scores"].shape == (1000, 1000)
