"""Time estimates a user can trust (issue 17, Deliver 3): the probe times passes at the batches the runs make them
in, a text at its own length, and the estimate counts the passes the run then makes, for every method.

Nothing here asserts seconds of wall-clock time: the probe is faked where its numbers matter, and only passes,
batches and the arithmetic on probed times are checked."""

import pytest

from explainers import explain
from explainers.core import cost, engine
from explainers.core.modality import input_sizes, prepare_input
from explainers.core.registry import methods_for
from tests.tiny_lm import tiny_lm
from tests.tiny_models import random_image, small_cnn
from tests.tiny_text import bag_model


@pytest.fixture
def fake_probe(monkeypatch):
    """A probe that records the token lengths it is asked for and times a pass as 1 ms per token."""
    asked = []

    def measure(model, tokens=None):
        asked.append(tokens)
        per_input = 1e-3 * (tokens or 20)
        return cost.Probe((per_input, per_input), (2 * per_input, 2 * per_input), 8, 32)

    monkeypatch.setattr(cost, "_measure", measure)
    return asked


def test_the_probe_times_the_batch_the_engine_uses():
    model = small_cnn(16)
    found = cost.probe(model)
    assert found.run_batch == engine.default_batch_size(model, 1 << 20)  # the batch of a long perturbation run
    assert found.batch == min(found.run_batch, cost.PROBE_CPU_BATCH)
    assert all(t > 0 for t in found.forward) and all(t >= 0 for t in found.backward)
    text = bag_model()
    assert cost.probe(text, 24).run_batch == text.batch_size  # texts go through the engine at the model's own batch
    lm = tiny_lm()
    assert cost.probe(lm, 16).run_batch == lm.batch_size(16)


def test_a_text_is_probed_at_its_length_and_a_longer_one_costs_more(fake_probe):
    model = bag_model()
    short, long = "a good film", " ".join(["a good but long and dull film"] * 12)
    estimates = {}
    for text in (short, long):
        sizes = input_sizes(model, prepare_input(model, text))
        estimates[text] = cost.estimate(model, "occlusion", {}, **sizes)
        assert fake_probe[-1] == cost.probe_tokens(model, **sizes) >= sizes["n_tokens"] + 2  # its tokens, rounded up
    assert fake_probe[-1] > fake_probe[0]
    # more passes (one per token) and each pass longer: more than the passes alone would say
    (f_short, _, s_short), (f_long, _, s_long) = estimates[short], estimates[long]
    assert s_long / s_short > f_long / f_short
    cost.estimate(model, "occlusion", {}, n_tokens=len(model.encode(long).content))
    assert len(fake_probe) == 2  # a length already probed is not measured again


def test_probe_tokens_rounds_up_and_images_have_none():
    assert cost.probe_tokens(None, n_tokens=20) == 22  # 20 content tokens + 2 special ones, rounded up to 2
    assert cost.probe_tokens(None, n_prompt=5, n_target=20) == 26  # prompt and continuation, together
    assert cost.probe_tokens(None, n_tokens=9) == 11  # short: exact (a multiple of 8 made it 16, ~1.4x its passes)
    for n in range(1, 2000):  # never more than 1/TOKEN_SHARE too long, and few lengths for long texts
        assert n <= cost.probe_tokens(None, n_prompt=n) < n * (1 + 1 / cost.TOKEN_SHARE)
    assert len({cost.probe_tokens(None, n_prompt=n) for n in range(257, 513)}) == cost.TOKEN_SHARE
    assert cost.probe_tokens(None, n_images=1) is None
    assert cost.probe_tokens(None) is None


def test_passes_are_timed_at_the_batch_they_are_made_in():
    # 10 ms for one input alone, 4 ms each in a batch of 8 (32 ms): 32 = fixed + 8 × per input, 10 = fixed + per input
    found = cost.Probe((0.010, 0.004), (0.020, 0.006), 8, 32)
    per_input = (0.032 - 0.010) / 7
    assert found.forward_s(1) == pytest.approx(0.010)
    assert found.forward_s(8) == pytest.approx(0.004)
    assert found.forward_s(32) == pytest.approx((0.010 - per_input) / 32 + per_input)  # beyond the probe: on the line
    # 70 forward passes in the engine's batches of 32: two full batches and one of 6
    assert cost.seconds(found, 70, 0) == pytest.approx(64 * found.forward_s(32) + 6 * found.forward_s(6))
    # one gradient (a CAM): one forward and one backward at batch 1
    assert cost.seconds(found, 1, 1) == pytest.approx(0.010 + 0.020)
    # integrated gradients' 16 path points at its batch_size 8, with their forwards; one more forward alone
    both = found.forward_s(8) + found.backward_s(8)
    assert cost.seconds(found, 17, 16, {"batch_size": 8}) == pytest.approx(16 * both + found.forward_s(1))
    flat = cost.Probe.of((0.01, 0.02))  # a (forward, backward) pair: the same at every batch
    assert cost.seconds(flat, 100, 10) == pytest.approx(100 * 0.01 + 10 * 0.02)


def test_noise_that_makes_a_batch_cheaper_than_its_inputs_is_no_negative_time():
    found = cost.Probe((0.010, 0.0005), (0.0, 0.0), 8)  # batch of 8 faster than one input: noise
    assert all(found.forward_s(b) > 0 for b in (1, 2, 8, 64))


def test_the_calibration_compares_a_run_with_its_own_prediction(fake_probe):
    model = bag_model()
    text = " ".join(["a good but dull film"] * 6)
    sizes = input_sizes(model, prepare_input(model, text))
    _, _, predicted = cost.estimate(model, "occlusion", {}, **sizes)
    assert cost.predicted_s(model, "occlusion", {}, **sizes) == pytest.approx(predicted, abs=1e-3)
    assert cost.predicted_s(model, "occlusion", {}, n_tokens=300) is None  # a length never probed: unknown
    cost.record_run(model, 100, 0, 3 * predicted, predicted)
    assert cost.estimate(model, "occlusion", {}, **sizes)[2] == pytest.approx(3 * predicted, rel=1e-2)


def _offered(model):
    return [m.id for m in methods_for(model)]


@pytest.mark.parametrize("make, x", [(lambda: small_cnn(32), random_image(32, seed=3)),
                                     (bag_model, "a good day but a dull and bad film")])
def test_the_estimate_counts_the_passes_every_offered_method_makes(make, x):
    """For every method a page offers, the passes the estimate times are the passes the run counts (an upper
    bound for image shap, which stops early when its partition is exhausted; a text's tree is known before)."""
    model = make()
    data = prepare_input(model, x)
    small = {"integrated-gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 3}, "gradient-shap": {"n_samples": 3},
             "rise": {"n_masks": 20}, "sobol": {"nb_design": 4}, "shap": {"max_evals": 40}, "lime": {"n_samples": 20},
             "occlusion": {"window": 8, "stride": 8} if model.modality == "image" else {}}
    for method in _offered(model):
        if method.startswith("attention") and model.name == "bag":
            continue  # the tiny bag-of-embeddings model has no attention to read
        params = small.get(method, {})
        sizes = {**input_sizes(model, data, 1, params), "targeted": 1}
        n_forward, n_backward = cost.estimate_passes(model, method, params, **sizes)
        e = explain(model, x, method=method, target=1, **params)
        if method == "shap" and model.modality == "image":
            assert n_forward >= e.n_forward > 0 and n_backward == e.n_backward, method
        else:
            assert (n_forward, n_backward) == (e.n_forward, e.n_backward), method


def test_the_page_sentence_gives_the_total_and_each_method():
    costs = {"rise": (1001, 0, 40.0), "grad-cam": (1, 1, 0.09)}
    sentence = cost.estimate_sentence(costs, "CPU", "shap's is an upper bound")
    assert sentence.startswith("Estimated cost: 1,002 forward + 1 backward passes ≈ 40.1 s on CPU (rise 40.0 s, grad-cam 90 ms;")
    assert sentence.endswith("shap's is an upper bound).")
    assert "(rise" not in cost.estimate_sentence({"rise": (1001, 0, 40.0)})  # one method: its total says it


@pytest.mark.parametrize("method", ["occlusion", "attention", "random"])
def test_a_continuation_generated_first_is_in_the_estimate(method):
    """No target: the run first generates the continuation, one counted pass per new token; the estimate (passes
    and a time for them) counts them, and a given target has none."""
    lm, prompt = tiny_lm(), "w3 w9 w7 w4"  # the key w7 makes it continue (w5 w5 w5)
    params = {"max_new_tokens": 3}
    sizes = input_sizes(lm, prepare_input(lm, prompt), None, params)
    assert sizes["generated"] == sizes["n_target"] == 3
    e = explain(lm, prompt, method=method, **params)
    assert cost.estimate_passes(lm, method, params, **sizes) == (e.n_forward, e.n_backward)
    given = input_sizes(lm, prepare_input(lm, prompt), " w5", params)
    assert given["generated"] == 0
    e = explain(lm, prompt, method=method, target=" w5", **params)
    assert cost.estimate_passes(lm, method, params, **given) == (e.n_forward, e.n_backward)


def test_a_batch_backward_that_noise_made_free_is_scaled_from_batch_one(monkeypatch):
    times = iter([0.010, 0.040, 0.030, 0.040])  # forward 10 ms, 40 ms (5 ms each); forward+backward 30 ms, 40 ms

    monkeypatch.setattr(cost, "_timed", lambda run, device, warm=True: next(times))
    found = cost._measure(small_cnn(16))
    assert found.batch == 8 and found.forward == pytest.approx((0.010, 0.005))
    assert found.backward == pytest.approx((0.020, 0.010))  # 20 ms at batch 1, halved as the forward is


def test_a_cams_backward_stops_at_its_layer_and_is_not_timed_as_one_to_the_input(fake_probe):
    model = small_cnn(16)
    n_forward, n_backward, seconds = cost.estimate(model, "grad-cam")
    assert (n_forward, n_backward) == (1, 1)  # counted as the run counts them
    found = cost.probe(model)
    assert seconds == pytest.approx(found.forward_s(1), abs=1e-3)
    assert cost.estimate(model, "saliency")[2] == pytest.approx(found.forward_s(1) + found.backward_s(1), abs=1e-3)


def test_a_generated_continuation_is_timed_as_greedy_steps_of_growing_rows(monkeypatch):
    """Generation runs one row per new token, each one token longer and only its last position's logits: the probe
    times such a step at two row lengths and the estimate sums the line through them (it used to time every new
    token as a full forward of the probed length: SmolLM2's continuation estimated at ~1.4× its time)."""
    lm = tiny_lm()
    found = cost.probe(lm, 16)
    assert found.step is not None and [n for n, _ in found.step] == [8, 16]
    fake = cost.Probe((0.010, 0.010), (0.02, 0.02), 8, 32, step=((8, 0.004), (16, 0.006)))
    assert fake.step_s(12) == pytest.approx(0.005)
    assert fake.generate_s(4, 3) == pytest.approx(0.003 + 0.00325 + 0.0035)
    assert fake.scaled(2.0).generate_s(4, 3) == pytest.approx(2 * fake.generate_s(4, 3))
    monkeypatch.setattr(cost, "_measure", lambda model, tokens=None: fake)
    params, sizes = {"max_new_tokens": 3}, {"n_prompt": 4, "n_target": 3, "generated": 3}
    _, _, seconds = cost.estimate(lm, "random", params, **sizes)  # random makes no pass but the generation's
    assert seconds == pytest.approx(fake.generate_s(4, 3), abs=1e-3)
    assert cost.generate_seconds(lm, **sizes) == pytest.approx(fake.generate_s(4, 3))
    assert cost.generate_seconds(lm, **{**sizes, "generated": 0}) == 0.0


def test_the_step_probe_runs_generates_own_loop_uncounted():
    """The probe times steps of ``generate``'s loop (argmax, the longer row), ``k`` in a row around the probed
    length, not one step again and again (which was ~1.3x a step of the loop on a quiet CPU); it counts no pass."""
    from models.adapters.causal_lm import PROBE_STEPS

    lm = tiny_lm()
    rows = []
    hook = lm.module.register_forward_pre_hook(lambda module, args, kwargs: rows.append(kwargs["input_ids"].shape),
                                               with_kwargs=True)
    try:
        before = lm.n_forward
        run, k = lm.probe_step(10)
        run()
    finally:
        hook.remove()
    assert k == PROBE_STEPS and lm.n_forward == before
    assert [shape[1] for shape in rows] == [10 - k // 2 + i for i in range(k)]  # one row one token longer per step
    assert all(shape[0] == 1 for shape in rows)


def test_a_method_on_one_graph_is_timed_as_one_forward_and_its_backwards_at_batch_one(monkeypatch):
    """lm-neurons makes one forward of the prompt and continuation, then a backward per continuation token on that
    graph (``one_graph``): forwards and backwards at batch 1, no forward per backward (the paired forward + backward
    at the probe's batch timed it at 0.65x its run on SmolLM2)."""
    from explainers.core.registry import get_method
    from tests.tiny_lm import tiny_llama

    lm = tiny_llama()
    assert get_method("lm-neurons", "generation").one_graph
    fake = cost.Probe((0.010, 0.004), (0.02, 0.005), 8, 8, step=((8, 0.003), (16, 0.003)))
    monkeypatch.setattr(cost, "_measure", lambda model, tokens=None: fake)
    sizes = {"n_prompt": 4, "n_target": 3}  # the continuation given: nothing generated
    n_forward, n_backward, seconds = cost.estimate(lm, "lm-neurons", {}, **sizes)
    assert (n_forward, n_backward) == (1, 3)
    assert seconds == pytest.approx(1 * 0.010 + 3 * 0.02, abs=1e-3)
    generated = {"n_prompt": 4, "n_target": 1, "generated": 1}  # the next token found first: one greedy step
    n_forward, n_backward, seconds = cost.estimate(lm, "lm-neurons", {}, **generated)
    assert seconds == pytest.approx(fake.generate_s(4, 1) + (n_forward - 1) * 0.010 + n_backward * 0.02, abs=1e-3)


def test_reagents_rows_are_timed_as_they_go(monkeypatch):
    """ReAGent's rows are the prompt (its sampler's set-up, in the engine's batches) and the prompt with the earlier
    target tokens (its probes: every probe at the first step, then the few still active), shorter than the probed
    prompt + continuation: each row is timed as its share of a probed row in a batch of as many tokens (they were
    timed as probed rows at the engine's batch: ~2x too long for the set-up, half the time for the later steps)."""
    from explainers.core.registry import get_method

    lm = tiny_lm()
    fake = cost.Probe((0.010, 0.004), (0.02, 0.02), 8, 32)
    monkeypatch.setattr(cost, "_measure", lambda model, tokens=None: fake)
    spec = get_method("reagent", "generation")
    sizes = {"n_prompt": 5, "n_target": 4, "generated": 0}  # probed at 9 tokens; rows of 5 to 8
    n_forward, _, shown = cost.estimate(lm, "reagent", {}, **sizes)
    groups = spec.row_groups(spec.resolve_params({}), lm, **sizes)
    assert sum(rows for rows, _, _ in groups) == n_forward
    expected = 0.0
    for rows, batch, tokens in groups:
        share = tokens / 9
        expected += share * cost._batched(rows, max(1, round((batch or 32) * share)), fake.forward_s)
    assert shown == pytest.approx(expected, abs=1e-3)
    assert groups[-1][1] == 1 and groups[-2][1] == 16  # later steps one row at a time, the first all 16 probes


def test_short_rows_are_probed_at_the_engines_batch():
    """Rows of few tokens are probed at the batch the runs use (up to PROBE_CPU_TOKENS tokens in all), not timed on
    the line from batch 8: past a few inputs a CPU's time per input stops falling as the line says."""
    text = bag_model()
    assert cost.probe_batch(text, 32, 11) == 32  # 352 tokens: the engine's batch itself
    assert cost.probe_batch(text, 32, 256) == cost.PROBE_CPU_BATCH  # long rows: 8, the line beyond
    assert cost.probe_batch(text, 32, 40) == cost.PROBE_CPU_TOKENS // 40
    assert cost.probe_batch(small_cnn(16), 32) == cost.PROBE_CPU_BATCH  # images: no tokens
    assert cost.probe(text, 12).batch == min(text.batch_size, cost.PROBE_CPU_TOKENS // 12)
