"""An uploaded TorchScript file is a program: Lumen runs only pure tensor operators from it.

The hostile modules are scripted here; each does what the probe of issue 14 did (write a file,
read /etc/passwd into the logits, loop) or hides such a call somewhere the first probe did not look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from explainers import explain
from models.sources import torchscript_guard
from models import ModelLoadError, load_model
from models.sources.torchscript_guard import ALLOWED, archive_refusal, forbidden_operators, refusal
from tests.tiny_models import HeadedCNN, SmallCNN

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")

IMAGE = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def _save(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def _writer(target: str) -> torch.nn.Module:
    class Writer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.target = target

        def forward(self, x):
            t = torch.from_file(self.target, shared=True, size=16, dtype=torch.uint8)
            t[:2].copy_(torch.tensor([72, 105], dtype=torch.uint8))
            return x.mean(dim=(2, 3)) + t[0].float()

    return Writer()


class Reader(torch.nn.Module):
    def forward(self, x):
        return torch.from_file("/etc/passwd", size=1000, dtype=torch.uint8).float().view(1, 1000) + x.sum() * 0


def test_torch_jit_load_does_not_run_forward(tmp_path):
    """torch.jit.load alone compiles the code and runs none of its methods but __setstate__ (next test)."""
    target = tmp_path / "written"
    path = _save(_writer(str(target)), tmp_path / "w.pt")
    torch.jit.load(str(path))
    assert not target.exists()


def test_a_module_that_writes_a_file_is_refused_and_writes_nothing(tmp_path):
    target = tmp_path / "written"
    path = _save(_writer(str(target)), tmp_path / "w.pt")
    with pytest.raises(ModelLoadError, match=r"calls aten::from_file in forward \(reads or writes files"):
        load_model(f"torchscript:{path}", device="cpu")
    assert not target.exists()


def test_a_module_that_reads_a_file_is_refused(tmp_path):
    path = _save(Reader(), tmp_path / "r.pt")
    with pytest.raises(ModelLoadError, match="aten::from_file.*pure tensor operations"):
        load_model(f"torchscript:{path}", device="cpu")


def test_setstate_which_torch_jit_load_runs_is_refused_before_loading(tmp_path):
    """``torch.jit.load`` itself runs a module's ``__setstate__``: this one writes a file while loading."""
    target = tmp_path / "written"

    class Stateful(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.where = str(target)

        def forward(self, x):
            return x.mean(dim=(2, 3))

        @torch.jit.export
        def __getstate__(self):
            return (self.where, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[str, bool]):
            t = torch.from_file(state[0], shared=True, size=16, dtype=torch.uint8)
            t.fill_(65)
            self.where = state[0] + str(int(t[0]))
            self.training = state[1]

    path = _save(Stateful(), tmp_path / "s.pt")
    assert not target.exists()
    with pytest.raises(ModelLoadError, match="defines __setstate__"):
        load_model(f"torchscript:{path}", device="cpu")
    assert not target.exists()
    torch.jit.load(str(path))  # what the refusal prevents: loading alone writes the file
    assert target.exists()


class _Hidden(torch.nn.Module):
    """A module whose forward is pure and whose hidden ``where`` calls ``torch.save``."""

    def forward(self, x):
        return x.mean(dim=(2, 3))

    @torch.jit.export
    def where(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, "/tmp/lumen-never-written")
        return x


class InSubmodule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Hidden()

    def forward(self, x):
        return self.inner(x)


class InHelper(torch.nn.Module):
    def helper(self, x: torch.Tensor) -> torch.Tensor:
        print("logits", x)
        return x

    def forward(self, x):
        return self.helper(x.mean(dim=(2, 3)))


class InBranch(torch.nn.Module):
    def forward(self, x):
        y = x.mean(dim=(2, 3))
        if bool(y.sum() > 1e9):
            y = y + torch.from_file("/etc/passwd", size=3, dtype=torch.uint8).float()
        return y


class InLoop(torch.nn.Module):
    def forward(self, x):
        y = x.mean(dim=(2, 3))
        for _ in range(2):
            if bool(y.sum() > 1e9):
                y = y + torch.from_file("/etc/passwd", size=3, dtype=torch.uint8).float()
        return y


def _leak(x: torch.Tensor) -> torch.Tensor:
    return x + torch.from_file("/etc/passwd", size=3, dtype=torch.uint8).float()


class InFunction(torch.nn.Module):
    def forward(self, x):
        return _leak(x.mean(dim=(2, 3)))


class InPrint(torch.nn.Module):
    def forward(self, x):
        print(x.shape)
        return x.mean(dim=(2, 3))


class InSave(torch.nn.Module):
    def forward(self, x):
        torch.save(x, "/tmp/lumen-never-written")
        return x.mean(dim=(2, 3))


class InUncalled(_Hidden):
    """forward never calls ``where``, but a method anyone could call is code all the same."""


@pytest.mark.parametrize("module, kind, where", [
    (InSubmodule(), "aten::save", "inner.where"),
    (InHelper(), "prim::Print", "helper"),
    (InBranch(), "aten::from_file", "forward"),
    (InLoop(), "aten::from_file", "forward"),
    (InFunction(), "aten::from_file", "forward"),
    (InPrint(), "prim::Print", "forward"),
    (InSave(), "aten::save", "forward"),
    (InUncalled(), "aten::save", "where"),
], ids=["submodule", "helper-method", "if-branch", "loop-body", "script-function", "print", "save", "uncalled-method"])
def test_a_forbidden_operator_is_found_wherever_it_hides(module, kind, where):
    scripted = torch.jit.script(module)
    bad = forbidden_operators(scripted)
    assert kind in bad and bad[kind].endswith(where), bad
    assert kind in refusal(scripted, "m.pt")


def test_a_hidden_operator_is_refused_through_load_model(tmp_path):
    path = _save(InSubmodule(), tmp_path / "m.pt")
    with pytest.raises(ModelLoadError, match=r"calls aten::save in inner\.where \(writes files"):
        load_model(f"torchscript:{path}", device="cpu")
    assert not Path("/tmp/lumen-never-written").exists()


def test_a_forward_hook_is_checked():
    module = SmallCNN()

    def hook(m: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
        print(inputs)

    module.register_forward_pre_hook(hook)
    assert "prim::Print" in forbidden_operators(torch.jit.script(module))


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("make", [SmallCNN, HeadedCNN], ids=["small", "headed"])
def test_ordinary_cnns_use_only_allowed_operators(make, how):
    module = make().eval()
    scripted = torch.jit.script(module) if how == "script" else torch.jit.trace(module, torch.zeros(1, 3, 32, 32))
    assert forbidden_operators(scripted) == {}


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_scripted_torchvision_cnns_use_only_allowed_operators(arch):
    import torchvision

    module = torchvision.models.get_model(arch, weights=None, num_classes=4).eval()
    assert forbidden_operators(torch.jit.script(module)) == {}


def test_no_file_or_process_operator_is_allowed():
    io = {"aten::from_file", "aten::save", "aten::_print", "prim::Print", "prim::fork", "aten::wait",
          "prim::rpc_async", "prim::rpc_sync", "prim::rpc_remote", "prim::PythonOp", "prim::CallFunction",
          "prim::CallMethod", "aten::set_", "aten::as_strided", "prim::TimePoint", "aten::record_stream"}
    assert not io & ALLOWED
    assert {k.split("::")[0] for k in ALLOWED} == {"aten", "prim"}


def test_an_ordinary_scripted_cnn_loads_and_explains(tmp_path):
    torch.manual_seed(0)
    module = SmallCNN(3).eval()
    path = _save(module, tmp_path / "cnn.pt")
    m = load_model(f"torchscript:{path}", device="cpu", input_size=32)
    assert m.labels == ["class 0", "class 1", "class 2"]
    e = explain(m, IMAGE, method="occlusion", window=8, stride=8)
    assert e.scores.shape == (32, 32) and np.isfinite(e.scores).all()


def test_an_ordinary_traced_cnn_loads_and_explains(tmp_path):
    torch.manual_seed(0)
    module = HeadedCNN(4).eval()
    path = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 32, 32)), str(path))
    m = load_model(f"torchscript:{path}", device="cpu", input_size=32)
    with torch.no_grad():
        expected = module(m.preprocess(IMAGE)).softmax(1)[0].numpy()
    assert np.allclose(m.predict(IMAGE).probs, expected, atol=1e-5)
    e = explain(m, IMAGE, method="saliency")
    assert e.scores.shape == (32, 32) and e.n_backward == 1


class Spin(torch.nn.Module):
    """Pure operators only, but a forward that does not end in any reasonable time."""

    def forward(self, x):
        y = x.mean(dim=(2, 3))
        for _ in range(1_000_000_000_000):
            y = y + 1
        return y


def _children() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True) if c.is_running() and c.status() != "zombie"}


@pytest.mark.timeout(120)
def test_a_looping_forward_is_stopped_within_its_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(torchscript_guard, "FORWARD_TIMEOUT_S", 3)
    path = _save(Spin(), tmp_path / "spin.pt")
    before = _children()
    with pytest.raises(ModelLoadError, match=r"did not finish one forward pass on a 1×3×32×32 image within 3 s"):
        load_model(f"torchscript:{path}", device="cpu", input_size=32)
    assert _children() <= before  # the child was killed and reaped


def test_a_forward_that_needs_too_much_memory_is_refused(tmp_path):
    class Hungry(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3)) + torch.ones(1 << 33, dtype=torch.uint8).sum()  # 8 GiB

    path = _save(Hungry(), tmp_path / "hungry.pt")
    rss = psutil.Process().memory_info().rss
    with pytest.raises(ModelLoadError, match="needs more than 4 GiB of memory for one forward pass on a 1×3×224×224 image"):
        load_model(f"torchscript:{path}", device="cpu")
    assert psutil.Process().memory_info().rss - rss < 300 * 1024**2


def test_archive_refusal_reads_compressed_members(tmp_path):
    """A hand-made archive may deflate its code, where a plain byte scan would not see ``__setstate__``."""
    import zipfile

    path = tmp_path / "deflated.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/code/__torch__.py", "class M(Module):\n  def __setstate__(self, state: bool) -> None:\n    pass\n")
    assert b"__setstate__" not in path.read_bytes()
    assert "defines __setstate__" in archive_refusal(path, "deflated.pt")


def test_archive_refusal_reads_a_bounded_amount_of_code(tmp_path):
    """Deflated code that unpacks to more than the limit is refused, not read to its end."""
    import zipfile

    from models.sources.torchscript_guard import _CODE_LIMIT

    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"m/code/part{i}.py", b"#" * (_CODE_LIMIT // 2))
    assert path.stat().st_size < _CODE_LIMIT // 100
    assert "holds more than 64 MB of code" in archive_refusal(path, "bomb.pt")
