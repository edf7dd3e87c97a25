"""Generation page: a prompt, a continuation (generated or given), which prompt tokens each generated token rests on."""

import threading

import streamlit as st

from explainers import default_method, explain, faithfulness, get_method, input_sizes, methods_for
from explainers.core.cost import estimate, estimate_sentence
from explainers.generation.methods import MAX_NEW_TOKENS
from models.adapters.causal_lm import MAX_TARGET_CHARS
from models.inputs.texts import MAX_CHARS
from models.units import duration
from pages.widgets import (app_runs_first, add_to_report, choose_language_model, memory_caption, method_params, plain,
                          plain_sentence, show_error)
from reports.figures import renderer
from reports.figures.ranked_bars import prepare_values

app_runs_first()

st.title("Generation attribution")

model = choose_language_model()

prompt = st.text_area("Prompt", "The capital of France is", max_chars=MAX_CHARS, key="gen_prompt")
mode = st.radio("Continuation", ["Generate (greedy)", "Given target"], horizontal=True, key="gen_mode")
if mode == "Given target":
    target_text = st.text_input("Target continuation", " Paris", max_chars=MAX_TARGET_CHARS, key="gen_target")
    max_new = None
else:
    target_text = None
    max_new = int(st.number_input("Max new tokens", *MAX_NEW_TOKENS, 8, key="gen_max_new"))

try:
    encoded = model.encode(prompt, target_text or None)
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
if encoded.warning:
    st.warning(plain_sentence(encoded.warning))

methods = st.multiselect("Methods", [m.id for m in methods_for(model)], default=[default_method(model)],
                         key="gen_methods")
chosen = {m: method_params(get_method(m, model.modality), model, hidden=("max_new_tokens",)) for m in methods}
# the page generates once and passes the ids to every method; each explanation records the length limit actually
# used (the page's "Max new tokens", or the given target's length), not its method's default of 20
used_new = max(1, len(encoded.target_ids)) if target_text else max_new
for params in chosen.values():
    params["max_new_tokens"] = used_new
if not chosen:
    st.info("Choose at least one method.")
    st.stop()
sizes = input_sizes(model, prompt, target_text or None, {"max_new_tokens": max_new})  # n_prompt, n_target
try:
    costs = {m: estimate(model, m, p, **sizes) for m, p in chosen.items()}
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
st.caption(estimate_sentence(costs, model.device_description, "ReAGent: typical, it stops when its probes do; "
                             "integrated gradients: at least, it halves the path's worst intervals until it "
                             "converges (up to max_steps per token): on SmolLM2 up to ~17× its first steps"))
memory_caption(model, chosen, **sizes)

key = (model.name, prompt, target_text, max_new)
results = st.session_state.get("gen_results")
if results is None or results["key"] != key:
    results = st.session_state["gen_results"] = {"key": key, "explanations": {}}

if st.button("Run", type="primary", key="gen_run"):
    cancel = threading.Event()
    st.empty().button("Cancel", key="gen_cancel", on_click=cancel.set, help="Stops the run; finished methods are kept.")
    bar = st.progress(0.0, text="Starting…")
    try:
        target = target_text or model.generate(encoded, max_new)
        if not target:
            st.warning("The model generated nothing for this prompt (its next token is end-of-text). "
                       "Change the prompt or give a target continuation.")
            st.stop()
        for i, (method_id, params) in enumerate(chosen.items()):

            def progress(done, total, i=i, method_id=method_id):
                bar.progress(min(1.0, (i + done / max(total, 1)) / len(chosen)), text=f"{method_id}: {done}/{total} passes")

            def waiting(sentence, i=i, method_id=method_id):
                bar.progress(i / len(chosen), text=f"{method_id}: {sentence}")

            try:
                e = explain(model, encoded, method=method_id, target=target, progress=progress, cancel=cancel,
                            waiting=waiting, **params)
                faithfulness(model, prompt, e)  # fills e.faithfulness
                results["explanations"][method_id] = e
            except Exception as exc:  # noqa: BLE001
                show_error(exc)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
    bar.empty()

shown = {m: e for m, e in results["explanations"].items() if m in chosen}
if not shown:
    st.info("Choose methods, then press **Run**.")
    st.stop()

first = next(iter(shown.values()))
st.markdown(f"**Continuation:** {plain(repr(first.target_label))}")
row = st.selectbox("Generated token for the bar chart", range(len(first.target_tokens)),
                   format_func=lambda k: f"{k}: {first.target_tokens[k]!r}", key="gen_row")
for method_id, e in shown.items():
    faith = e.faithfulness
    st.subheader(method_id)
    st.caption(
        f"Soft-NS {faith.get('soft_ns_mean', float('nan')):.3f} · Soft-NC {faith.get('soft_nc_mean', float('nan')):.3f} "
        f"(higher is better) · {duration(e.runtime_s)} · {e.n_forward} forward + {e.n_backward} backward · device {e.device}"
    )
    st.plotly_chart(renderer("generation_matrix").figure(e), width="stretch", key=f"gen-heatmap:{method_id}")
    k = min(row, e.scores.shape[0] - 1)
    bars = prepare_values([f"{i}:{t}" for i, t in enumerate(e.tokens)], e.scores[k], order="value", top=None,
                          x_title=f"score for {e.target_tokens[k]!r}")
    st.plotly_chart(renderer("ranked_bars").plotly(bars), width="stretch", key=f"gen-bars:{method_id}")
    add_to_report(model, prompt, e, key=f"generation:{method_id}")
