"""Faithfulness and agreement metrics on constructed cases whose answers are known."""

import numpy as np
import pytest

from explainers import Explanation, explain
from explainers.metrics.agreement import agreement, pairwise_agreement, top_k_iou
from explainers.metrics.image import (
    confidence_change,
    deletion_curve,
    faithfulness_passes,
    image_faithfulness,
    insertion_curve,
)
from models.errors import ExplainerError
from tests.tiny_models import RegionScore, classifier

SIZE = 32
REGION = (slice(8, 16), slice(12, 24))


@pytest.fixture(scope="module")
def region_model():
    # class 0's logit: how bright the region is (centred so that the probability moves through 0.5)
    return classifier(RegionScore(REGION, scale=0.05, offset=0.05 * 3 * 96 * 0.5), size=SIZE)


@pytest.fixture(scope="module")
def bright_square():
    """Dark image, bright where the model looks: removing those pixels lowers class 0, blurring spreads them out."""
    image = np.full((SIZE, SIZE, 3), 20, dtype=np.uint8)
    image[REGION] = 235
    return image


def true_map() -> np.ndarray:
    m = np.zeros((SIZE, SIZE), dtype=np.float32)
    m[REGION] = 1
    return m


def random_maps(n=10):
    rng = np.random.default_rng(0)
    return [rng.random((SIZE, SIZE)).astype(np.float32) for _ in range(n)]


def test_true_contribution_map_beats_random_ones(region_model, bright_square):
    true_del = deletion_curve(region_model, bright_square, true_map(), 0, pixels_per_step=16)
    true_ins = insertion_curve(region_model, bright_square, true_map(), 0, pixels_per_step=16)
    for m in random_maps():
        assert true_del.auc < deletion_curve(region_model, bright_square, m, 0, pixels_per_step=16).auc
        assert true_ins.auc > insertion_curve(region_model, bright_square, m, 0, pixels_per_step=16).auc
    # the curve runs from the image to all pixels changed, sampled every 16 pixels
    assert true_del.fractions[0] == 0 and true_del.fractions[-1] == 1 and len(true_del.fractions) == SIZE * SIZE // 16 + 1
    p_image = region_model.predict(bright_square).probs[0]
    assert true_del.probabilities[0] == pytest.approx(p_image, abs=1e-6)
    assert true_ins.probabilities[-1] == pytest.approx(p_image, abs=1e-6)
    # after the 96 region pixels are gone (step 6), nothing else can move class 0
    assert np.allclose(true_del.probabilities[6:], true_del.probabilities[-1], atol=1e-6)


def test_deletion_auc_is_the_trapezoid_rule_by_hand(region_model, bright_square):
    c = deletion_curve(region_model, bright_square, true_map(), 0, pixels_per_step=256)  # 4 steps
    p = c.probabilities
    assert c.auc == pytest.approx(sum((p[i] + p[i + 1]) / 2 * 0.25 for i in range(4)), rel=1e-9)


def test_average_drop_and_increase_in_confidence(region_model, bright_square):
    drop, increase = confidence_change(region_model, bright_square, true_map(), 0)
    assert drop == pytest.approx(0) and increase == 0  # the map keeps all the evidence: O == Y
    inverse = 1 - true_map()
    drop, increase = confidence_change(region_model, bright_square, inverse, 0)
    y = region_model.predict(bright_square).probs[0]
    o = region_model.predict(np.zeros_like(bright_square)).probs[0]  # the region blacked out
    assert drop == pytest.approx((y - o) / y * 100, rel=1e-5) and increase == 0
    drop, increase = confidence_change(region_model, bright_square, inverse, 1)  # class 1 gains
    assert drop == 0 and increase == 1


def test_image_faithfulness_counts_its_passes(region_model, bright_square):
    e = Explanation(scores=true_map(), method="truth", modality="image", model="tiny", target=0)
    before = region_model.n_forward
    figures = image_faithfulness(region_model, bright_square, e, pixels_per_step=64, pixel_curves=True)
    # the region curves (14 × 14 patches, 4 a step: 49 steps, 2 · 49 passes for both orders) + the pixel curves + 2
    assert region_model.n_forward - before == faithfulness_passes(region_model, 64, pixel_curves=True) \
        == 2 * 49 + 2 * (16 + 1) + 2
    assert faithfulness_passes(region_model, 64) == 2 * 49 + 2  # the pixel curves are an option
    assert {"srg", "morf_auc", "lerf_auc", "deletion_auc", "insertion_auc", "average_drop", "increase_in_confidence"} <= set(figures)
    assert len(figures["deletion_curve"]) == len(figures["fractions"]) == 17


def test_random_baseline_is_seeded_and_uniform(region_model, bright_square):
    a = explain(region_model, bright_square, method="random", seed=3)
    b = explain(region_model, bright_square, method="random", seed=3)
    c = explain(region_model, bright_square, method="random", seed=4)
    assert np.array_equal(a.scores, b.scores) and not np.array_equal(a.scores, c.scores)
    assert a.scores.shape == (SIZE, SIZE) and 0 <= a.scores.min() and a.scores.max() <= 1
    assert a.n_forward == 1  # only the prediction, to know the target


def test_perfect_agreement_is_one_and_reversal_minus_one():
    s = np.random.default_rng(0).random((10, 10))
    for metric in ("spearman", "kendall", "top-k iou"):
        assert pairwise_agreement(s, s.copy(), metric) == pytest.approx(1)
    assert pairwise_agreement(s, -s, "spearman") == pytest.approx(-1)
    assert pairwise_agreement(s, -s, "kendall") == pytest.approx(-1)
    assert pairwise_agreement(s, 2 * s + 1, "spearman") == pytest.approx(1)  # ranks only


def test_top_k_iou_by_hand():
    a = np.array([5, 4, 3, 2, 1.0])
    b = np.array([5, 1, 4, 2, 3.0])
    assert top_k_iou(a, b, 2) == pytest.approx(1 / 3)  # {0, 1} vs {0, 2}
    assert top_k_iou(a, b, 5) == 1


def test_kendall_is_tau_b_with_ties():
    from scipy.stats import kendalltau

    a, b = np.array([1, 2, 2, 3.0]), np.array([1, 3, 2, 2.0])
    assert pairwise_agreement(a, b, "kendall") == pytest.approx(kendalltau(a, b, variant="b").statistic)


def test_agreement_matrix_is_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(1)
    es = [Explanation(scores=rng.random((80, 120)), method=f"m{i}", modality="image", model="x") for i in range(3)]
    m = agreement(es, "spearman")
    assert m.shape == (3, 3) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1)
    assert np.abs(m[0, 1]) < 0.3  # independent noise, block-averaged to 43 × 64 cells


def test_agreement_refuses_mismatched_shapes_and_unknown_metrics():
    with pytest.raises(ExplainerError, match="shapes"):
        pairwise_agreement(np.ones(3), np.ones(4))
    with pytest.raises(ExplainerError, match="Unknown agreement"):
        pairwise_agreement(np.arange(3.0), np.arange(3.0), "pearson")


def test_random_text_baseline_is_seeded_and_skips_special_tokens():
    from tests.tiny_text import bag_model

    model = bag_model()
    a = explain(model, "a good day", method="random", seed=1)
    assert np.array_equal(a.scores, explain(model, "a good day", method="random", seed=1).scores)
    assert a.tokens[0] == "[CLS]" and a.scores[0] == 0 and a.scores[-1] == 0
    assert np.all(np.abs(a.scores[1:-1]) > 0) and np.all(np.abs(a.scores) <= 1)


def test_compare_adds_the_random_baseline_figures_and_keeps_going_after_a_failure(region_model, bright_square):
    from explainers.core.compare import compare

    errors, fractions = [], []
    out = compare(region_model, bright_square, {"saliency": {}, "occlusion": {"nope": 1}}, 0,
                  faithfulness_options={"pixel_curves": True}, on_error=lambda method, exc: errors.append(method),
                  progress=lambda fraction, text: fractions.append(fraction))
    assert fractions == sorted(fractions) and fractions[-1] == 1 and len(fractions) > 6  # per batch, not per method
    assert [e.method for e in out] == ["saliency", "random"] and errors == ["occlusion"]
    for e in out:
        assert {"deletion_auc", "insertion_auc", "average_drop"} <= set(e.faithfulness)
        assert e.target == 0
    saliency, random = out
    assert saliency.faithfulness["deletion_auc"] < random.faithfulness["deletion_auc"]


def test_agreement_on_magnitudes_is_the_rank_correlation_of_the_absolute_scores():
    from scipy.stats import kendalltau, spearmanr

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=40), rng.normal(size=40)
    b[:20] = -a[:20]  # the same magnitudes, opposite signs, on half the features
    es = [Explanation(scores=s, method=f"m{i}", modality="tabular", model="x") for i, s in enumerate((a, b))]
    signed, shown = agreement(es, "spearman")[0, 1], agreement(es, "spearman", magnitude=True)[0, 1]
    assert signed == pytest.approx(spearmanr(a, b).statistic)
    assert shown == pytest.approx(spearmanr(np.abs(a), np.abs(b)).statistic)
    assert agreement(es, "kendall", magnitude=True)[0, 1] == pytest.approx(
        kendalltau(np.abs(a), np.abs(b), variant="b").statistic)
    assert shown > signed + 0.2  # the sign flips hide the shared magnitudes from the signed ranking
