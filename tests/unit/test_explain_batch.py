"""``explain_batch``: several images per forward/backward where the method declares a batched pass, each
Explanation equal to ``explain`` of that image alone, passes counted per image, chunks, progress and cancel."""

import threading

import numpy as np
import pytest
import torch

from explainers import explain, explain_batch, get_method, list_explainers
from explainers.core.budget import ENV_VAR, inputs_at_once, run_memory
from explainers.core.engine import CPU_BATCH_SIZE, Cancelled
from models.errors import ExplainerError, InputError
from tests.tiny_models import OutOfMemoryAbove, SmallCNN, classifier, random_image, small_cnn

BATCHED = ("grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam", "cf-cam", "eigen-cam", "saliency",
           "gradient-x-input")
SIZES = (16, 23, 9, 16, 40, 12)  # the model's input is 16×16: smaller, larger and odd images in one batch
TARGETS = [None, 1, None, 2, "class 4", None]


@pytest.fixture
def model():
    model = small_cnn(size=16, n_classes=5)
    explain(model, random_image(16), "grad-cam")  # the run budget measures the model once, with a pass of its own
    return model


@pytest.fixture
def images():
    return [random_image(size, seed=i) for i, size in enumerate(SIZES)]


class Calls:
    """What went through the network: the batch size of each forward call of the module and of each backward
    through its head (the module's last layer, which every target logit's gradient leaves from)."""

    def __init__(self, model):
        self.forward: list[int] = []
        self.backward: list[int] = []
        self.handles = [
            model.module.register_forward_pre_hook(lambda _m, args: self.forward.append(int(args[0].shape[0]))),
            model.module.head.register_full_backward_hook(
                lambda _m, _gin, gout: self.backward.append(int(gout[0].shape[0]))),
        ]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def test_the_registry_says_which_methods_batch():
    batched = {m for m in list_explainers("image") if get_method(m, "image").batches}
    assert batched == set(BATCHED)
    assert not get_method("integrated-gradients", "image").batches and not get_method("rise", "image").batches


@pytest.mark.parametrize("method", BATCHED)
def test_each_explanation_is_the_one_explain_gives_alone(model, images, method):
    together = explain_batch(model, images, method, targets=TARGETS)
    assert len(together) == len(images)
    for image, target, e in zip(images, TARGETS, together):
        alone = explain(model, image, method=method, target=target)
        assert e.scores.shape == image.shape[:2]  # back on its own image's pixel grid
        assert np.allclose(e.scores, alone.scores, atol=1e-5), method
        assert e.scores.any(), method  # not a trivially equal all-zero map
        assert (e.target, e.target_label, e.params, e.signed) == (alone.target, alone.target_label, alone.params,
                                                                  alone.signed)
        assert (e.n_forward, e.n_backward) == (alone.n_forward, alone.n_backward)
        assert e.method == method and e.model == alone.model and e.device == alone.device
    assert [together[i].target for i in (1, 3, 4)] == [1, 2, 4]  # the given targets, by index or label


def test_method_parameters_reach_every_input(model, images):
    params = {"grad_noise": 0.5, "seed": 3, "layer": "features.0"}
    together = explain_batch(model, images, "grad-cam", targets=[2] * len(images), **params)
    for image, e in zip(images, together):
        alone = explain(model, image, method="grad-cam", target=2, **params)
        assert np.allclose(e.scores, alone.scores, atol=1e-5) and e.params == alone.params


def test_eight_grad_cams_make_one_forward_and_one_backward_of_the_batch(model):
    images = [random_image(16, seed=i) for i in range(8)]
    before = (model.n_forward, model.n_backward)
    with Calls(model) as calls:
        together = explain_batch(model, images, "grad-cam")
    assert calls.forward == [8] and calls.backward == [8]  # one call each way, of the whole stack
    # the adapter counts a pass per image through the network: 8 and 8, one of each per input, as alone
    assert (model.n_forward - before[0], model.n_backward - before[1]) == (8, 8)
    assert [(e.n_forward, e.n_backward) for e in together] == [(1, 1)] * 8
    for e in together:
        assert {k: v for k, v in e.extras["batch"].items() if k != "runtime_s"} == \
            {"inputs": 8, "n_forward": 8, "n_backward": 8}
        # each carries a share of the chunk's pass time plus its own rule's
        assert e.runtime_s >= e.extras["batch"]["runtime_s"] / 8 > 0


def test_eigen_cam_is_one_forward_of_the_batch_and_no_backward(model, images):
    with Calls(model) as calls:
        together = explain_batch(model, images, "eigen-cam", chunk=len(images))
    assert calls.forward == [len(images)] and calls.backward == []
    assert [(e.n_forward, e.n_backward) for e in together] == [(1, 0)] * len(images)


def test_a_method_without_a_batched_pass_runs_per_input(model, images):
    params = {"n_steps": 4, "batch_size": 4}
    with Calls(model) as calls:
        together = explain_batch(model, images[:3], "integrated-gradients", targets=[1, 2, 0], **params)
    assert all(n <= 4 for n in calls.forward) and len(calls.forward) == 3  # each input's own 4 steps
    for image, target, e in zip(images, [1, 2, 0], together):
        alone = explain(model, image, method="integrated-gradients", target=target, **params)
        assert np.allclose(e.scores, alone.scores, atol=1e-5)
        assert "batch" not in e.extras


def test_inputs_go_in_chunks_of_the_engines_batch_size(model):
    images = [random_image(16, seed=i) for i in range(CPU_BATCH_SIZE + 3)]
    spec = get_method("grad-cam", "image")
    assert inputs_at_once(spec, model, spec.resolve_params({}), len(images), n_images=1) == CPU_BATCH_SIZE
    with Calls(model) as calls:
        together = explain_batch(model, images, "grad-cam")
    assert calls.forward == [CPU_BATCH_SIZE, 3] and calls.backward == [CPU_BATCH_SIZE, 3]
    assert [e.extras["batch"]["inputs"] for e in together] == [CPU_BATCH_SIZE] * CPU_BATCH_SIZE + [3] * 3
    with Calls(model) as calls:
        explain_batch(model, images[:7], "grad-cam", chunk=3)
    assert calls.forward == [3, 3, 1]


def test_the_run_budget_bounds_a_chunk(model, monkeypatch):
    spec = get_method("grad-cam", "image")
    params = spec.resolve_params({})
    per_input = run_memory(spec, params, model, n_images=1)
    monkeypatch.setenv(ENV_VAR, str(2.5 * per_input / 2**20))  # room for two inputs' peaks
    assert inputs_at_once(spec, model, params, 8, n_images=1) == 2
    with Calls(model) as calls:
        explain_batch(model, [random_image(16, seed=i) for i in range(5)], "grad-cam")
    assert calls.forward == [2, 2, 1]


def test_progress_after_each_chunk(model, images):
    seen = []
    explain_batch(model, images, "grad-cam", chunk=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 6), (6, 6)]
    seen.clear()
    explain_batch(model, images[:2], "rise", n_masks=8, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_cancel_stops_between_chunks(model, images):
    cancel = threading.Event()
    cancel.set()
    before = model.n_forward
    with pytest.raises(Cancelled):
        explain_batch(model, images, "grad-cam", cancel=cancel)
    assert model.n_forward == before  # nothing ran
    cancel.clear()
    with Calls(model) as calls, pytest.raises(Cancelled):
        explain_batch(model, images, "grad-cam", chunk=2, cancel=cancel, progress=lambda done, total: cancel.set())
    assert calls.forward == [2]  # the first chunk, then the cancel


def test_bad_calls_get_a_sentence(model, images):
    with pytest.raises(ExplainerError, match="6 inputs and 2 targets"):
        explain_batch(model, images, "grad-cam", targets=[0, 1])
    with pytest.raises(ExplainerError, match="chunk must be a whole number"):
        explain_batch(model, images, "grad-cam", chunk=0)
    with pytest.raises(ExplainerError, match="no parameter"):
        explain_batch(model, images, "grad-cam", n_masks=3)
    assert explain_batch(model, [], "grad-cam") == []


def test_one_input_is_explain(model, images):
    (e,) = explain_batch(model, images[:1], "grad-cam", targets=[2])
    alone = explain(model, images[0], method="grad-cam", target=2)
    assert np.array_equal(e.scores, alone.scores) and "batch" not in e.extras


def test_rows_do_not_leak_into_each_other(model):
    """A batch's gradients are each row's own: an image's map is the same whatever else is in its batch."""
    image = random_image(16, seed=11)
    crowds = [[image] + [random_image(16, seed=s) for s in range(3)],
              [random_image(16, seed=20 + s) for s in range(5)] + [image]]
    maps = [explain_batch(model, crowd, "grad-cam", targets=[1] * len(crowd))[at].scores
            for crowd, at in zip(crowds, (0, -1))]
    assert np.allclose(maps[0], maps[1], atol=1e-5)
    assert torch.is_grad_enabled()  # the batch left autograd as it found it


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   torch.cuda.OutOfMemoryError("CUDA out of memory")])
def test_out_of_memory_halves_the_chunk_and_retries(images, error):
    torch.manual_seed(0)
    inner = SmallCNN(n_classes=5)
    flaky = OutOfMemoryAbove(inner, limit=2, error=error)
    model = classifier(flaky, size=16, n_classes=5)
    plain = classifier(inner, size=16, n_classes=5)
    images = images + images[:2]  # 8
    explain(model, images[0], "grad-cam")  # the run budget's one-off measurement
    flaky.sizes.clear()
    together = explain_batch(model, images, "grad-cam", chunk=8)
    assert flaky.sizes == [8, 4, 2, 2, 2, 2]  # halved twice, then kept at 2
    for image, e in zip(images, together):
        assert np.allclose(e.scores, explain(plain, image, method="grad-cam").scores, atol=1e-5)
    assert [(e.n_forward, e.n_backward) for e in together] == [(1, 1)] * len(images)  # the attempts are not theirs
    flaky.limit = 0
    with pytest.raises(ExplainerError, match="Not enough memory"):
        explain_batch(model, images, "grad-cam", chunk=2)


def test_other_runtime_errors_are_not_retried(images):
    flaky = OutOfMemoryAbove(SmallCNN(n_classes=5), limit=1, error=RuntimeError("shape mismatch"))
    model = classifier(flaky, size=16, n_classes=5)
    explain(model, images[0], "grad-cam")
    flaky.limit, flaky.sizes = 0, []
    with pytest.raises(RuntimeError, match="shape mismatch"):
        explain_batch(model, images, "grad-cam", chunk=4)
    assert flaky.sizes == [4]


def test_a_bad_input_or_target_is_said_before_its_chunk_runs(model, images):
    before = model.n_forward
    with pytest.raises(InputError, match="no pixels"):
        explain_batch(model, [images[0], np.zeros((0, 5, 3), np.uint8)], "grad-cam")
    with pytest.raises(ExplainerError, match="'dog' is not one of the model's classes"):
        explain_batch(model, images[:2], "grad-cam", targets=[0, "dog"])
    assert model.n_forward == before
