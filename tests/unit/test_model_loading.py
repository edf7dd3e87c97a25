"""Models the user brings: timm/torchvision state dicts, TorchScript files, labels, and refusals.

Every file is made here, in tmp_path, from a small randomly initialised model;
a loaded model must give the very logits of the module it was saved from.
"""

import json

import numpy as np
import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file
from timm.data import resolve_model_data_config

from explainers import explain
from models import MODEL_SOURCES, ExplainerError, ModelLoadError, list_architectures, load_model
from models.sources.labels import imagenet_labels
from models.sources.image_files import IMAGENET_MEAN, IMAGENET_STD

# Making TorchScript files here calls torch.jit, which warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")

IMAGE = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)


def same_logits(loaded, original, image=IMAGE, exact=True):
    x = loaded.preprocess(image)
    with torch.inference_mode():
        ours, theirs = loaded.forward(x), original.eval()(x)
    return torch.equal(ours, theirs) if exact else torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def save(state, path):
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def tiny_timm():
    torch.manual_seed(1)
    return timm.create_model("test_resnet", num_classes=5).eval()


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".safetensors"])
def test_timm_state_dict_round_trip(tiny_timm, tmp_path, suffix):
    path = save(tiny_timm.state_dict(), tmp_path / f"w{suffix}")
    m = load_model("timm:test_resnet", weights=path, device="cpu")
    assert same_logits(m, tiny_timm)
    assert m.labels == [f"class {i}" for i in range(5)]  # 5 outputs read from the head, no names given
    cfg = resolve_model_data_config(tiny_timm)
    assert m.input_size == tuple(cfg["input_size"][1:])
    assert torch.allclose(m._mean.flatten().cpu(), torch.tensor(cfg["mean"]))
    assert torch.allclose(m._std.flatten().cpu(), torch.tensor(cfg["std"]))


def test_format_is_read_from_content_not_name(tiny_timm, tmp_path):
    path = save(tiny_timm.state_dict(), tmp_path / "w.safetensors")
    renamed = path.rename(tmp_path / "weights.bin")
    assert same_logits(load_model("timm:test_resnet", weights=renamed, device="cpu"), tiny_timm)


@pytest.mark.parametrize("arch", ["test_efficientnet", "test_convnext", "test_vit"])
def test_timm_heads_of_other_names(arch, tmp_path):
    """'classifier', 'head.fc', 'head': the class count comes from whatever the architecture calls its head."""
    torch.manual_seed(2)
    original = timm.create_model(arch, num_classes=3).eval()
    m = load_model(f"timm:{arch}", weights=save(original.state_dict(), tmp_path / "w.pth"), device="cpu")
    assert len(m.labels) == 3 and same_logits(m, original)


def test_timm_vit_through_the_loader_explains(tmp_path):
    torch.manual_seed(3)
    original = timm.create_model("test_vit", num_classes=4).eval()
    m = load_model("timm:test_vit", weights=save(original.state_dict(), tmp_path / "w.safetensors"), device="cpu")
    assert m.target_layer_name == f"blocks.{len(original.blocks) - 1}.norm1"
    assert explain(m, IMAGE, method="grad-cam").scores.shape == IMAGE.shape[:2]


def test_torchvision_imagenet_head_gets_imagenet_names(tmp_path):
    torch.manual_seed(4)
    original = torchvision.models.squeezenet1_1(weights=None).eval()
    m = load_model("torchvision:squeezenet1_1", weights=save(original.state_dict(), tmp_path / "w.pth"), device="cpu")
    assert same_logits(m, original)
    assert m.labels == list(imagenet_labels())
    assert m.input_size == (224, 224)
    assert torch.allclose(m._mean.flatten().cpu(), torch.tensor(IMAGENET_MEAN))


@pytest.mark.parametrize("arch", ["squeezenet1_1", "mobilenet_v3_small"])  # a Conv2d head, a Linear head
def test_torchvision_class_count_from_the_weights(arch, tmp_path):
    torch.manual_seed(5)
    original = torchvision.models.get_model(arch, weights=None, num_classes=3).eval()
    m = load_model(f"torchvision:{arch}", weights=save(original.state_dict(), tmp_path / "w.safetensors"), device="cpu")
    assert len(m.labels) == 3 and same_logits(m, original)


def test_training_checkpoint_with_names_and_dataparallel_prefix(tiny_timm, tmp_path):
    names = ["ant", "bee", "cat", "dog", "eel"]
    state = {f"module.{k}": v for k, v in tiny_timm.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state, "epoch": 7, "labels": names}, path)
    m = load_model("timm:test_resnet", weights=path, device="cpu")
    assert m.labels == names and same_logits(m, tiny_timm)


def test_names_from_safetensors_metadata(tiny_timm, tmp_path):
    names = ["ant", "bee", "cat", "dog", "eel"]
    path = tmp_path / "w.safetensors"
    save_file(tiny_timm.state_dict(), str(path), metadata={"labels": json.dumps(names)})
    assert load_model("timm:test_resnet", weights=path, device="cpu").labels == names


@pytest.mark.parametrize(
    "name, content",
    [
        ("names.txt", "ant\nbee\n\ncat\ndog\neel\n"),
        ("names.json", json.dumps(["ant", "bee", "cat", "dog", "eel"])),
        ("names.json", json.dumps({"4": "eel", "0": "ant", "1": "bee", "3": "dog", "2": "cat"})),
    ],
)
def test_names_from_an_uploaded_file(tiny_timm, tmp_path, name, content):
    (tmp_path / name).write_text(content)
    weights = save(tiny_timm.state_dict(), tmp_path / "w.pth")
    m = load_model("timm:test_resnet", weights=weights, labels=tmp_path / name, device="cpu")
    assert m.labels == ["ant", "bee", "cat", "dog", "eel"]


def test_uploaded_names_override_stored_ones(tiny_timm, tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(tiny_timm.state_dict(), str(path), metadata={"labels": json.dumps(list("abcde"))})
    assert load_model("timm:test_resnet", weights=path, labels=list("vwxyz"), device="cpu").labels == list("vwxyz")


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("names.txt", "a\nb\nc\n", "5 outputs"),
        ("names.json", "[1, 2,", "not valid JSON"),
        ("names.json", json.dumps({"0": "a", "2": "b"}), "without gaps"),
        ("names.txt", "\n\n", "no names"),
    ],
)
def test_bad_names_file(tiny_timm, tmp_path, name, content, words):
    (tmp_path / name).write_text(content)
    weights = save(tiny_timm.state_dict(), tmp_path / "w.pth")
    with pytest.raises(ModelLoadError, match=words):
        load_model("timm:test_resnet", weights=weights, labels=tmp_path / name, device="cpu")


class Trap:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickled_objects_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "x": Trap(str(marker))}, path)
    with pytest.raises(ModelLoadError, match="never unpickles"):
        load_model("timm:test_resnet", weights=path)
    assert not marker.exists()


def test_pickled_full_model_is_refused_with_the_reason(tiny_timm, tmp_path):
    path = tmp_path / "full.pth"
    torch.save(tiny_timm, path)
    with pytest.raises(ModelLoadError, match=r"pickled Python object .*timm\.models\.resnet\.ResNet.*state_dict"):
        load_model("timm:test_resnet", weights=path)


def _truncated(tmp_path, tiny_timm, suffix):
    whole = save(tiny_timm.state_dict(), tmp_path / f"whole{suffix}").read_bytes()
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a weights file at all" * 10,
        "half.pth",
        "half.safetensors",
    ],
)
def test_damaged_weights_files(tiny_timm, tmp_path, content):
    if isinstance(content, str):
        suffix = content[content.index(".") :]
        content = _truncated(tmp_path, tiny_timm, suffix)
    else:
        suffix = ".pth"
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError):
        load_model("timm:test_resnet", weights=path)


def test_state_dict_of_plain_numbers_is_refused(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"fc.weight": 3}, path)
    with pytest.raises(ModelLoadError, match="not a state dict of named tensors"):
        load_model("timm:test_resnet", weights=path)


def test_weights_of_another_architecture_name_the_keys(tiny_timm, tmp_path):
    path = save(tiny_timm.state_dict(), tmp_path / "w.pth")
    with pytest.raises(ModelLoadError, match=r"do not fit timm 'test_efficientnet'.*missing \(\d+\): conv_stem"):
        load_model("timm:test_efficientnet", weights=path)


def test_wrong_shapes_are_named(tiny_timm, tmp_path):
    state = dict(tiny_timm.state_dict())
    state["conv1.0.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(ModelLoadError, match=r"wrong shape \(1\): conv1\.0\.weight \(file \(3, 3, 3, 3\)"):
        load_model("timm:test_resnet", weights=save(state, tmp_path / "w.safetensors"))


def test_missing_and_unexpected_keys_are_named(tiny_timm, tmp_path):
    state = dict(tiny_timm.state_dict())
    state["extra.weight"] = state.pop("conv1.0.weight")
    with pytest.raises(ModelLoadError, match=r"missing \(1\): conv1\.0\.weight; unexpected \(1\): extra\.weight"):
        load_model("timm:test_resnet", weights=save(state, tmp_path / "w.pth"))


@pytest.mark.parametrize(
    "name, kwargs, words",
    [
        ("timm:resnt18", {"weights": "x.pth"}, "Did you mean resnet18"),
        ("torchvision:resnet_18", {"weights": "x.pth"}, "no architecture named 'resnet_18'"),
        ("timm:test_resnet", {}, "needs a weights file"),
        ("timm:test_resnet", {"weights": "no/such/file.pth"}, "No weights file"),
        ("efficientnet-lite0", {"weights": "x.pth"}, "embedded"),
        ("torchscript:m.pt", {"weights": "x.pth"}, "carries its own weights"),
        ("onnx:model.onnx", {}, "Unknown model"),
        ("timm:", {}, "Unknown model"),
    ],
)
def test_unusable_requests(name, kwargs, words):
    with pytest.raises(ModelLoadError, match=words):
        load_model(name, **kwargs)


@pytest.fixture(scope="module")
def tv_small():
    torch.manual_seed(6)
    return torchvision.models.mobilenet_v3_small(weights=None, num_classes=4).eval()


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_round_trip(tv_small, tmp_path, how):
    scripted = torch.jit.script(tv_small) if how == "script" else torch.jit.trace(tv_small, torch.zeros(1, 3, 224, 224))
    path = tmp_path / "m.pt"
    torch.jit.save(scripted, str(path))
    m = load_model(f"torchscript:{path}", device="cpu")
    assert same_logits(m, tv_small, exact=False)
    assert m.input_size == (224, 224) and m.labels == [f"class {i}" for i in range(4)]
    assert torch.allclose(m._std.flatten().cpu(), torch.tensor(IMAGENET_STD))


def test_torchscript_names_and_preprocessing_overrides(tv_small, tmp_path):
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(tv_small), str(path), _extra_files={"labels.json": json.dumps(list("wxyz"))})
    m = load_model(f"torchscript:{path}", device="cpu", input_size=96, mean=(0.5, 0.5, 0.5), std=(0.25,) * 3)
    assert m.labels == list("wxyz") and m.input_size == (96, 96)
    assert same_logits(m, tv_small, exact=False)  # preprocess now gives 96 px, mean 0.5, std 0.25
    x = m.preprocess(np.full((5, 5, 3), 255, np.uint8))
    assert x.shape == (1, 3, 96, 96) and torch.allclose(x, torch.full_like(x, 2.0))


def test_torchscript_predicts_but_has_no_layers(tv_small, tmp_path):
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(tv_small), str(path))
    m = load_model(f"torchscript:{path}", device="cpu")
    assert not m.supports_layers and abs(float(m.predict(IMAGE).probs.sum()) - 1) < 1e-5
    with pytest.raises(ExplainerError, match="TorchScript"):
        explain(m, IMAGE, method="grad-cam")


def test_a_state_dict_is_not_torchscript(tiny_timm, tmp_path):
    path = save(tiny_timm.state_dict(), tmp_path / "w.pt")
    with pytest.raises(ModelLoadError, match="not a readable TorchScript file"):
        load_model(f"torchscript:{path}")


def test_a_model_that_fails_on_images_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(10, 2)), str(path))
    with pytest.raises(ModelLoadError, match="fails on a 1×3×224×224 image"):
        load_model(f"torchscript:{path}")


def test_sources_are_described_for_pages():
    assert {"embedded", "timm", "torchvision", "torchscript", "hf"} <= set(MODEL_SOURCES)
    assert "safetensors" in MODEL_SOURCES["timm"].weight_types and MODEL_SOURCES["hf"].weight_types == ()
    assert "resnet18" in list_architectures("timm") and "squeezenet1_1" in list_architectures("torchvision")
    assert "fcn_resnet50" not in list_architectures("torchvision")  # segmentation models give no class row


def test_loading_takes_no_network(tiny_timm, tmp_path, monkeypatch):
    """A timm load must not reach for pretrained weights: the socket layer is cut off."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network use")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    m = load_model("timm:test_resnet", weights=save(tiny_timm.state_dict(), tmp_path / "w.pth"), device="cpu")
    assert same_logits(m, tiny_timm)
