"""Neurons page: which units carry a decision — a CNN's channels, a ViT's neuron path, an LM's MLP neurons."""

import pandas as pd
import streamlit as st

from explainers import explain, get_method
from explainers.core.cost import estimate, estimate_sentence
from explainers.batch.reader import BUNDLED
from explainers.neurons.channels import (MAX_CROP_IMAGES, MAX_CROPS, RULES, channel_layers, is_cnn,
                                        is_vision_transformer, top_crops)
from explainers.neurons.lm_neurons import MAX_TOKENS, MAX_TOP_K, fits, search_neurons
from models.adapters.causal_lm import MAX_TARGET_CHARS
from models.inputs.texts import MAX_CHARS
from models.units import duration
from pages.neurons_path import section as path_section
from pages.widgets import (add_to_report, app_runs_first, choose_image, choose_image_model, choose_language_model,
                           image_name, plain, run_with_progress, show_error)
from reports.figures import renderer
from reports.figures.neuron_bars import prepare as neuron_bars

app_runs_first()

st.title("Neurons")
st.caption("Which units inside the model carry its decision: a CNN's channels, a vision transformer's neuron path, "
           "a language model's MLP neurons and the tokens each one writes.")

RESULTS = "neurons_results"  # session state: {key: Explanation}, the last runs of this page
SEARCHES = "neurons_searches"  # session state: {key: [found neurons]}
CROPS = "neurons_crops"  # session state: {key: {channel: [Crop]}}


def kept(store: str, key, value=None, limit: int = 8):
    """This session's value under ``key`` in ``store`` (the last ``limit`` kept, so a page switch loses nothing)."""
    values = st.session_state.setdefault(store, {})
    if value is not None:
        values.pop(key, None)
        values[key] = value
        while len(values) > limit:
            values.pop(next(iter(values)))
    return values.get(key)


def tokens_text(pairs) -> str:
    return " · ".join(repr(t) for t, _ in pairs)


def run_method(model, x, method: str, params: dict, target=None):
    def run(progress):
        return explain(model, x, method=method, target=target, progress=progress, **params)

    return run_with_progress(method, run)


def cost_caption(model, method: str, params: dict, **sizes) -> None:
    try:
        cost = estimate(model, method, params, **sizes)
    except Exception as exc:  # noqa: BLE001 - a bad parameter becomes a sentence
        show_error(exc)
        st.stop()
    st.caption(estimate_sentence({method: cost}, model.device_description))


# ---------------------------------------------------------------- CNN: channels


def channel_section(model, image, image_id: str) -> None:
    prediction = model.predict(image)
    top1 = prediction.top(1)[0][0]
    target = st.selectbox("Class to explain (type to search all classes)", range(len(model.labels)), index=top1,
                          format_func=lambda i: f"{model.labels[i]} ({i}) — {prediction.probs[i]:.1%}",
                          key=f"neurons_target:{model.name}:{image_id}")
    layers = channel_layers(model)
    if not layers:
        st.info(f"{plain(model.name)} has no layer with a spatial channel map to score.")
        return
    default = model.target_layer_name if model.target_layer_name in layers else layers[-1]
    c1, c2, c3, c4 = st.columns([3, 1, 2, 1])
    layer = c1.selectbox("Layer (its channels are scored)", layers, index=layers.index(default),
                         key=f"neurons_layer:{model.name}", help="Layers with a spatial channel map, in the order "
                         f"they run; the default is the model's last one ({default}).")
    spec = get_method("channel-attribution", "image")
    top_k = int(c2.number_input("Top channels", 1, spec.limits["top_k"][1], 8, key="neurons_top_k"))
    rule = c3.selectbox("Score", RULES, key="neurons_rule", format_func=lambda r: {
        "gradient-x-activation": "gradient × activation (1 pass)",
        "conductance": "layer conductance (Captum, n_steps passes)"}[r])
    params = {"layer": layer, "top_k": top_k, "rule": rule}
    if rule == "conductance":
        params["n_steps"] = int(c4.number_input("n_steps", 2, spec.limits["n_steps"][1], 32, key="neurons_steps"))
    cost_caption(model, "channel-attribution", params)
    key = ("channels", model.name, image_id, target, tuple(sorted(params.items())))
    if st.button("Run", type="primary", key="neurons_run_channels"):
        e = run_method(model, image, "channel-attribution", params, target)
        if e is not None:
            kept(RESULTS, key, e)
    e = kept(RESULTS, key)
    if e is None:
        st.info("Choose a layer and press **Run**.")
        return
    st.caption(f"**{plain(e.target_label)}** · layer {plain(e.extras['layer'])} · {e.extras['rule']} · "
               f"{duration(e.runtime_s)} · {e.n_forward} forward + {e.n_backward} backward · device {e.device}")
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(renderer("image_overlay").figure(e, image, title="Top channels' map, weighted by score"),
                        width="stretch", key="neurons_overlay")
    with right:
        st.plotly_chart(renderer("ranked_bars").plotly(neuron_bars(e)), width="stretch", key="neurons_channel_bars")
    st.markdown("**Top channels' activation maps** (rank order; each scaled by its own maximum)")
    st.plotly_chart(renderer("channel_maps").figure(e, image), width="stretch", key="neurons_channel_maps")
    add_to_report(model, image, e, key=f"neurons:channels:{image_id}", input_name=image_name(image_id),
                  prediction=prediction)
    crops_section(model, e)


def crops_section(model, e) -> None:
    with st.expander("Most activating crops over a dataset"):
        st.caption("Each top channel's strongest crops over a dataset's images: one forward pass per image.")
        bundled = [name for name, b in BUNDLED.items() if b.model.startswith(("vit", "efficientnet")) or
                   name == "digits"]
        source = st.selectbox("Images", [*bundled, "A folder or ZIP on the server"], key="neurons_crop_source")
        data = source
        if source not in BUNDLED:
            data = st.text_input("Folder or ZIP path", key="neurons_crop_path").strip()
        c1, c2, c3 = st.columns(3)
        n_images = int(c1.number_input("Images read (at most)", 1, MAX_CROP_IMAGES, 100, key="neurons_crop_images"))
        per_channel = int(c2.number_input("Crops per channel", 1, MAX_CROPS, 4, key="neurons_crop_each"))
        fraction = float(c3.slider("Crop side (share of the image)", 0.1, 1.0, 0.5, 0.05, key="neurons_crop_side"))
        channels = [n["index"] for n in e.extras["neurons"]]
        key = ("crops", model.name, e.extras["layer"], tuple(channels), data, n_images, per_channel, fraction)
        if st.button("Find crops", key="neurons_find_crops", disabled=not data):
            found = run_with_progress("crops", lambda progress: top_crops(
                model, data, channels, layer=e.extras["layer"], per_channel=per_channel, max_images=n_images,
                crop_fraction=fraction, progress=progress), unit="images")
            if found is not None:
                kept(CROPS, key, found, limit=2)
        found = kept(CROPS, key)
        if not found:
            return
        for channel, crops in found.items():
            st.markdown(f"**Channel {channel}**")
            st.image([c.image for c in crops], width=96,
                     caption=[f"{c.path.rsplit('/', 1)[-1]} · {c.activation:.3g}" for c in crops])


# ---------------------------------------------------------------- LM: neurons


def lm_section(model) -> None:
    if not fits(model):
        st.info(f"{plain(model.name)} has no MLP layers and LM head Lumen can read (Llama-, GPT-2-, NeoX-, OPT-style "
                "causal LMs), so its neurons cannot be decoded.")
        return
    prompt = st.text_area("Prompt", "The capital of France is", max_chars=MAX_CHARS, key="neurons_prompt")
    target = st.text_input("Next token to explain (empty: the model's prediction)", "", max_chars=MAX_TARGET_CHARS,
                           key="neurons_lm_target", help="Text: its first token's neurons are shown.")
    c1, c2, c3 = st.columns(3)
    top_k = int(c1.number_input("Top neurons", 1, MAX_TOP_K, 20, key="neurons_lm_top_k"))
    n_tokens = int(c2.number_input("Tokens decoded per neuron", 1, MAX_TOKENS, 8, key="neurons_lm_tokens"))
    through_norm = c3.checkbox("Through the final norm's scale", True, key="neurons_lm_norm",
                               help="Decode W_U · (γ ⊙ W_down[:, j]), γ the final norm's scale; off: W_U · W_down[:, j].")
    params = {"top_k": top_k, "n_tokens": n_tokens, "through_norm": through_norm}
    try:
        n_prompt = len(model.encode(prompt).prompt_ids)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    n_target = len(model.encode(prompt, target).target_ids) if target else 1
    cost_caption(model, "lm-neurons", params, n_prompt=n_prompt, n_target=n_target, generated=0 if target else 1)
    key = ("lm", model.name, prompt, target, tuple(sorted(params.items())))
    if st.button("Run", type="primary", key="neurons_run_lm"):
        e = run_method(model, prompt, "lm-neurons", params, target or None)
        if e is not None:
            kept(RESULTS, key, e)
    e = kept(RESULTS, key)
    if e is not None:
        st.markdown(f"**Next token explained:** {plain(repr(e.extras['next_token']))} · {duration(e.runtime_s)} · "
                    f"{e.n_forward} forward + {e.n_backward} backward · decoded as {plain(e.extras['decoding'])}")
        neurons = e.extras["neurons"]
        table = pd.DataFrame({
            "layer": [n["layer"] for n in neurons], "neuron": [n["index"] for n in neurons],
            "score": [n["score"] for n in neurons], "activation": [n["activation"] for n in neurons],
            "promotes": [tokens_text(n["promoted_tokens"]) for n in neurons],
            "suppresses": [tokens_text(n["suppressed_tokens"]) for n in neurons],
        })
        st.dataframe(table, hide_index=True, width="stretch", key="neurons_lm_table")
        st.plotly_chart(renderer("ranked_bars").plotly(neuron_bars(e)), width="stretch", key="neurons_lm_bars")
        add_to_report(model, prompt, e, key="neurons:lm")
    else:
        st.info("Type a prompt and press **Run**.")
    search_section(model, through_norm, n_tokens)


def search_section(model, through_norm: bool, n_tokens: int) -> None:
    st.subheader("Search the neurons")
    c1, c2, c3 = st.columns([3, 2, 1])
    word = c1.text_input("Neurons whose decoded tokens contain the word", "", max_chars=64, key="neurons_word")
    side = c2.radio("Among the tokens it", ["promotes", "suppresses"], horizontal=True, key="neurons_side")
    limit = int(c3.number_input("Show", 1, 200, 20, key="neurons_search_limit"))
    st.caption("Every neuron of every block, exactly: the first search on a model reads a bound for each neuron "
               "(one pass over a sample of the vocabulary per block), kept for later searches.")
    key = ("search", model.name, word.strip().lower(), side, through_norm, n_tokens, limit)
    if st.button("Search neurons", key="neurons_search", disabled=not word.strip()):
        found = run_with_progress("search", lambda progress: search_neurons(
            model, word, limit=limit, suppressed=side == "suppresses", through_norm=through_norm, n_tokens=n_tokens,
            progress=progress), unit="blocks")
        if found is not None:
            kept(SEARCHES, key, found)
    found = kept(SEARCHES, key)
    if found is None:
        return
    if not found:
        st.info(f"No neuron has a token spelling {plain(repr(word.strip()))} among its top "
                f"{'suppressed' if side == 'suppresses' else 'promoted'} tokens.")
        return
    st.dataframe(pd.DataFrame({
        "layer": [n["layer"] for n in found], "neuron": [n["index"] for n in found],
        "rank of the word": [n["rank"] + 1 for n in found], "logit": [n["logit"] for n in found],
        "promotes": [tokens_text(n["promoted_tokens"]) for n in found],
        "suppresses": [tokens_text(n["suppressed_tokens"]) for n in found],
    }), hide_index=True, width="stretch", key="neurons_search_table")


# ---------------------------------------------------------------- the page

kind = st.radio("Model", ["Image classifier", "Language model"], horizontal=True, key="neurons_kind")
if kind == "Language model":
    lm_section(choose_language_model())
    st.stop()

model = choose_image_model()
if model is None:
    st.stop()
image, image_id = choose_image()
if image is None:
    st.stop()
if is_vision_transformer(model):
    path_section(model, image)
elif is_cnn(model) and getattr(model, "supports_layers", True):
    channel_section(model, image, image_id)
else:
    st.info(f"No neuron method applies to {plain(model.name)}: channels need a CNN whose layers can be read "
            "(a TorchScript model takes no hooks).")
