"""Hostile files: a pickle that writes a file when unpickled, bundle ZIPs that reach outside or explode,
and model files over the upload limit. Each is refused with a sentence, and nothing is written."""

import io
import pathlib
import pickle
import struct
import tomllib
import zipfile

import pytest
import torch

from models import InputError, ModelLoadError, load_model
from models.inputs import limits
from reports.bundle import read_bundle
from tests.no_writes import forbid_writes

# Making TorchScript files here calls torch.jit, which warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")


class WriteOnUnpickle:
    """Unpickling this calls ``Path(target).write_text(...)``: if the marker file exists, code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path(self.target).write_text, ("unpickling ran code\n",))


class OpenOnUnpickle(WriteOnUnpickle):
    def __reduce__(self):
        return (open, (self.target, "w"))


def evil_weights(path, marker, how: str) -> pathlib.Path:
    """A weights file whose unpickling writes ``marker``: in a torch zip (``torch.save``) or a bare pickle."""
    if how == "torch.save":
        state = {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": torch.zeros(1000)}
        state["payload"] = WriteOnUnpickle(str(marker))
        torch.save(state, path)
    elif how == "torch.save-open":
        torch.save({"fc.bias": torch.zeros(1000), "payload": OpenOnUnpickle(str(marker))}, path)
    else:  # a bare pickle stream, the legacy torch format
        path.write_bytes(pickle.dumps({"payload": WriteOnUnpickle(str(marker))}, protocol=2))
    return path


def test_the_trap_works_when_unpickled(tmp_path):
    """The payload is real: plain pickle runs it (so the refusals below prove something)."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(WriteOnUnpickle(str(marker))))
    assert marker.read_text() == "unpickling ran code\n"


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
@pytest.mark.parametrize("how", ["torch.save", "torch.save-open", "bare pickle"])
def test_weights_that_run_code_are_refused_and_never_run(tmp_path, suffix, how):
    marker = tmp_path / "marker"
    path = evil_weights(tmp_path / f"evil{suffix}", marker, how)
    with pytest.raises(ModelLoadError) as refused:
        load_model("torchvision:resnet18", weights=path, device="cpu")
    message = str(refused.value)
    assert "never unpickles" in message and "run any code" in message, message
    assert not marker.exists()


# ---------------------------------------------------------------- bundles: traversal and bombs


@pytest.fixture
def no_writes(monkeypatch, tmp_path):
    """Run from a nested temporary directory with every way of opening a file for writing forbidden."""
    workdir = tmp_path / "a" / "b"
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    forbid_writes(monkeypatch)
    yield tmp_path
    monkeypatch.undo()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/b"]
    assert not (workdir / ".." / ".." / "x").exists()


def _zip(entries: dict[str, bytes], level: int = 6) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _manifest(*names) -> bytes:
    import hashlib
    import json

    files = {n: hashlib.sha256(b"payload").hexdigest() for n in names}
    return json.dumps({"format": "lumen-report-bundle", "version": 1, "items": [], "files": files}).encode()


@pytest.mark.parametrize("name", ["../../x", "items/../../../x", "/tmp/x", "..\\..\\x"])
def test_bundle_with_a_path_traversal_entry_is_refused_and_writes_nothing(no_writes, name):
    data = _zip({"manifest.json": _manifest(name), name: b"payload"})
    with pytest.raises(InputError, match="unsafe file name"):
        read_bundle(data)


def _declare_size(data: bytes, name: bytes, size: int) -> bytes:
    """The ZIP with ``name``'s uncompressed size rewritten in its local header and central directory."""
    out = bytearray(data)
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := out.find(signature, start)) != -1:
            if out[start + name_at: start + name_at + len(name)] == name:
                struct.pack_into("<I", out, start + size_at, size)
            start += 4
    return bytes(out)


def test_zip_bomb_declaring_its_size_is_refused_before_unpacking(no_writes):
    bomb = bytes(64 << 20)  # 64 MB of zeros deflate to about 64 kB
    data = _zip({"manifest.json": _manifest("bomb.bin"), "bomb.bin": bomb}, level=1)
    assert len(data) < 1 << 20
    with pytest.raises(InputError, match="would unpack to 67 MB, over the limit of 34 MB"):
        read_bundle(data, max_total_bytes=32 << 20)
    # at the default limit (1 GiB): the same archive claiming 2 GiB
    with pytest.raises(InputError, match="would unpack to 2147 MB, over the limit"):
        read_bundle(_declare_size(data, b"bomb.bin", (2 << 30) - 1))


def test_zip_bomb_lying_about_its_size_stops_at_the_declared_size(no_writes):
    data = _declare_size(_zip({"manifest.json": _manifest("bomb.bin"), "bomb.bin": bytes(64 << 20)}, level=1),
                         b"bomb.bin", 1000)
    with pytest.raises(InputError, match="bomb.bin.*(declared size|damaged)"):
        read_bundle(data)


# ---------------------------------------------------------------- upload size limit on model files


def test_the_limit_is_the_one_in_the_streamlit_config(monkeypatch, tmp_path):
    monkeypatch.delenv(limits.ENV, raising=False)
    with limits.CONFIG.open("rb") as f:
        assert limits.max_upload_mb() == tomllib.load(f)["server"]["maxUploadSize"]
    config = tmp_path / "config.toml"
    config.write_text("[server]\nmaxUploadSize = 7\n")
    monkeypatch.setattr(limits, "CONFIG", config)
    assert limits.max_upload_mb() == 7
    monkeypatch.setenv(limits.ENV, "3")  # Streamlit's own override wins, as it does for the uploader
    assert limits.max_upload_mb() == 3
    monkeypatch.delenv(limits.ENV)
    monkeypatch.setattr(limits, "CONFIG", tmp_path / "missing.toml")
    assert limits.max_upload_mb() == limits.STREAMLIT_DEFAULT_MB


def _tiny_resnet():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()


def _weights_file(tmp_path, megabytes):
    path = tmp_path / "big.pth"
    padding = torch.zeros(int(megabytes * 1024 * 1024 / 4))
    torch.save({"state_dict": _tiny_resnet().state_dict(), "optimizer": padding}, path)  # a training checkpoint
    return "timm:test_resnet", {"weights": path}


def _torchscript_file(tmp_path, megabytes):
    module = _tiny_resnet()
    module.register_buffer("padding", torch.zeros(int(megabytes * 1024 * 1024 / 4)))
    path = tmp_path / "big.pt"
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 32, 32)), str(path))
    return f"torchscript:{path}", {}


def _hf_directory(tmp_path, megabytes):
    import transformers as T

    config = T.ViTConfig(image_size=16, patch_size=8, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, num_labels=2)
    T.ViTForImageClassification(config).save_pretrained(tmp_path / "vit")
    (tmp_path / "vit" / "training_notes.txt").write_bytes(bytes(int(megabytes * 1024 * 1024)))
    return f"hf:{tmp_path / 'vit'}", {}


def _skops_file(tmp_path, megabytes):
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    from models.inputs.tables import load_dataset

    data = load_dataset("diabetes")
    model = LinearRegression().fit(data.features, data.frame[data.target])
    model.padding_ = np.random.default_rng(0).random(int(megabytes * 1024 * 1024 / 8))  # incompressible
    path = tmp_path / "big.skops"
    sio.dump(model, path)
    return f"skops:{path}", {"data": data, "trusted": sio.get_untrusted_types(file=path)}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("make", [_weights_file, _torchscript_file, _hf_directory, _skops_file])
def test_model_files_over_the_upload_limit_are_refused_with_the_limit(tmp_path, monkeypatch, make):
    name, kwargs = make(tmp_path, 1.5)
    monkeypatch.setenv(limits.ENV, "1")
    read = []  # nothing may parse the file once it is known to be too large
    with monkeypatch.context() as m:
        m.setattr(torch, "load", lambda *a, **k: read.append("torch.load"))
        with pytest.raises(ModelLoadError, match=r"is [1-9]\.\d MB; the limit is 1 MB \(server\.maxUploadSize in "
                                                 r"\.streamlit/config\.toml"):
            load_model(name, device="cpu", **kwargs)
    assert not read
    monkeypatch.setenv(limits.ENV, "10")  # under the limit the very same file loads
    assert load_model(name, device="cpu", **kwargs).name


def test_embedded_models_are_not_subject_to_the_limit(monkeypatch):
    monkeypatch.setenv(limits.ENV, "1")  # the embedded EfficientNet's weights are about 19 MB
    model = load_model("efficientnet-lite0", device="cpu")
    assert len(model.labels) == 1000


# ---------------------------------------------------------------- JSON nested deeper than Python recurses

DEEP = "[" * 100_000 + "]" * 100_000


def _deep_bundle(where: str) -> bytes:
    import hashlib
    import json

    if where == "manifest":
        return _zip({"manifest.json": DEEP.encode()})
    explanation = ('{"scores": ' + DEEP + "}").encode()
    manifest = {"format": "lumen-report-bundle", "version": 1,
                "files": {"e.json": hashlib.sha256(explanation).hexdigest(), "t.txt": hashlib.sha256(b"t").hexdigest()},
                "items": [{"explanation": "e.json", "input": {"kind": "text", "files": ["t.txt"]}, "model": {}}]}
    return _zip({"manifest.json": json.dumps(manifest).encode(), "e.json": explanation, "t.txt": b"t"})


@pytest.mark.parametrize("where", ["manifest", "explanation"])
def test_bundle_with_json_nested_too_deep(where):
    with pytest.raises(InputError, match="not valid JSON|invalid"):
        read_bundle(_deep_bundle(where))


def test_model_files_with_json_nested_too_deep(tmp_path):
    from safetensors.torch import save_file

    from models.sources.labels import resolve_labels

    (tmp_path / "names.json").write_text(DEEP)
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        resolve_labels(3, tmp_path / "names.json")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(DEEP)
    with pytest.raises(ModelLoadError, match="config.json .*not valid JSON"):
        load_model(f"hf:{tmp_path / 'hf'}")
    module = _tiny_resnet()
    weights = tmp_path / "w.safetensors"  # names in the metadata that cannot be parsed are not names
    save_file(module.state_dict(), str(weights), metadata={"class_names": DEEP})
    assert load_model("timm:test_resnet", weights=weights, device="cpu").labels == ["class 0", "class 1", "class 2"]
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 32, 32)), str(scripted),
                   _extra_files={"labels.json": DEEP})
    with pytest.raises(ModelLoadError, match="labels.json .*not valid JSON"):
        load_model(f"torchscript:{scripted}", device="cpu")


# ---------------------------------------------------------------- image decoders


@pytest.mark.parametrize("fmt", ["PPM", "TGA", "PCX", "ICO", "SGI", "EPS-header"])
def test_only_the_advertised_image_decoders_are_reachable(fmt):
    """PIL reads some forty formats (EPS through Ghostscript); an upload reaches only the six Lumen lists."""
    from PIL import Image

    from models.inputs.images import decode_image

    if fmt == "EPS-header":
        data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n"
    else:
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format=fmt)
        data = buf.getvalue()
        assert Image.open(io.BytesIO(data)).format == fmt  # PIL alone would decode it
    with pytest.raises(InputError, match="not an image Lumen can read. Supported formats: PNG, JPG"):
        decode_image(data)


def test_hugging_face_image_classifier_with_only_pickled_weights_is_refused(tmp_path):
    """Like the text and language-model loaders: safetensors only, never pytorch_model.bin."""
    import transformers as T

    config = T.ViTConfig(image_size=16, patch_size=8, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, num_labels=2)
    model = T.ViTForImageClassification(config)
    model.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"only pickled weights \(pytorch_model\.bin\).*safetensors only"):
        load_model(f"hf:{tmp_path}", device="cpu")


def test_torchscript_labels_that_are_not_utf8(tmp_path):
    """Found by the fuzz tests: a UnicodeDecodeError escaped the TorchScript loader."""
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(_tiny_resnet(), torch.zeros(1, 3, 32, 32)), str(scripted),
                   _extra_files={"labels.txt": b"\x80cat\ndog\nbird\n"})
    with pytest.raises(ModelLoadError, match="labels.txt inside scripted.pt is not UTF-8"):
        load_model(f"torchscript:{scripted}", device="cpu")
