"""CRAFT over a dataset in shards equals CRAFT over the same images at once."""

import numpy as np
import pytest
import torch

from explainers import explain
from explainers.concepts.dataset import craft_dataset, local_shards
from models.errors import ExplainerError
from tests.tiny_models import HeadedCNN, classifier, random_image

PARAMS = dict(n_concepts=3, patch_size=16, nb_design=8, seed=0)


@pytest.fixture(scope="module")
def headed():
    torch.manual_seed(0)
    return classifier(HeadedCNN(n_classes=3), size=32, n_classes=3)


@pytest.fixture(scope="module")
def images():
    return [random_image(32, seed=s) for s in range(7)]


@pytest.mark.parametrize("importance", ["sobol", "occlusion", "gradient-x-input"])
def test_shards_give_what_one_run_gives(headed, images, importance):
    whole = explain(headed, images, method="craft", importance=importance, **PARAMS)
    shards = [[0, 1, 2], [3], [4, 5, 6]]  # uneven shards of image indices
    said = []
    parts = craft_dataset(headed, shards, lambda shard: [images[i] for i in shard], importance=importance,
                          progress=said.append, **PARAMS)
    assert parts.target == whole.target and parts.method == "craft"
    np.testing.assert_allclose(parts.scores, whole.scores, rtol=1e-4, atol=1e-6)
    for key in ("importance_local", "concept_maps", "concept_bank"):
        np.testing.assert_allclose(parts.extras[key], whole.extras[key], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(parts.extras["concept_crops"], whole.extras["concept_crops"])
    np.testing.assert_array_equal(parts.extras["concept_crop_images"], whole.extras["concept_crop_images"])
    for name in ("reconstruction_error", "sparsity", "c_deletion", "c_insertion"):
        assert parts.extras["metrics"][name] == pytest.approx(whole.extras["metrics"][name], rel=1e-4, abs=1e-6)
    assert parts.extras["predictions"] == whole.extras["predictions"]
    assert parts.extras["n_crops"] == whole.extras["n_crops"] and parts.extras["n_shards"] == 3
    # step 3 reads each image's activations again on its worker (one forward per image) instead of shipping them
    assert parts.n_forward == whole.n_forward + len(images) and parts.n_backward == whole.n_backward
    assert len(said) == 3


def test_an_explicit_class_is_explained_and_each_shard_read_through_the_mapper(headed, images):
    calls = []
    base = local_shards(headed, lambda shard: [images[i] for i in shard])

    def run(fn, shards, **kwargs):
        calls.append((fn.__name__, len(shards)))
        return base(fn, shards, **kwargs)

    e = craft_dataset(headed, [[0, 1], [2, 3]], lambda shard: [images[i] for i in shard], run, target=2, **PARAMS)
    assert e.target == 2 and calls == [("shard_crops", 2), ("shard_concepts", 2)]
    assert e.extras["concept_maps"].shape[:2] == (4, 3)


def test_no_images_is_refused_with_a_sentence(headed):
    with pytest.raises(ExplainerError, match="at least one image"):
        craft_dataset(headed, [], lambda shard: [], **PARAMS)
