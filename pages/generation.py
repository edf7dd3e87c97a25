"""Generation page: a prompt, a continuation (generated or given), which prompt tokens each generated token rests on."""

from functools import partial

import streamlit as st

from explainers import default_method, explain, faithfulness, get_method, input_sizes, methods_for
from explainers.core.cost import estimate, estimate_sentence, forward_seconds, generate_seconds
from explainers.core.modality import faithfulness_passes
from explainers.generation.methods import MAX_NEW_TOKENS
from models.adapters.causal_lm import MAX_TARGET_CHARS
from models.inputs.texts import MAX_CHARS
from models.units import duration
from pages.widgets import (Stage, app_runs_first, add_to_report, choose_language_model, memory_caption, method_params,
                          plain, plain_sentence, run_stages, show_error)
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
method_sizes = {**sizes, "generated": 0}  # the page generates once and gives every method the continuation
try:
    costs = {m: estimate(model, m, p, **method_sizes) for m, p in chosen.items()}
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
# what Run does besides the methods' passes: generating the continuation (a pass of one row per token) and each
# method's faithfulness figures; the progress bar's whole is this sum, known before it starts
n_generate = int(sizes.get("generated", 0))
generate_s = generate_seconds(model, **sizes)
n_faith = faithfulness_passes(model, prompt, sizes=sizes)
faith_s = forward_seconds(model, n_faith, **sizes)
steps = {f"generating {n_generate} tokens": (n_generate, 0, generate_s)} if n_generate else {}
steps.update(costs)
steps["faithfulness"] = (n_faith * len(chosen), 0, faith_s * len(chosen))
notes = [get_method(m, model.modality).estimate_note for m in chosen]
st.caption(estimate_sentence(steps, model.device_description, "; ".join(n for n in notes if n)))
memory_caption(model, chosen, **sizes)

key = (model.name, prompt, target_text, max_new)
results = st.session_state.get("gen_results")
if results is None or results["key"] != key:
    results = st.session_state["gen_results"] = {"key": key, "explanations": {}}

if st.button("Run", type="primary", key="gen_run"):
    # one progress bar over everything the Run does, its whole known before it starts: generating the
    # continuation, each method's passes, each method's faithfulness passes (weighted by their estimated seconds)
    live = st.empty()  # the continuation as soon as it is generated, then each method as it finishes
    feed = live.container()
    run = {"target": target_text}

    def generate(progress):
        ids = model.generate(encoded, max_new, progress=progress)
        if not ids:
            feed.warning("The model generated nothing for this prompt (its next token is end-of-text). "
                         "Change the prompt or give a target continuation.")
            return None
        run["target"] = ids
        feed.markdown(f"**Continuation:** {plain(repr(model.decode(ids)))} ({len(ids)} tokens; the methods run "
                      "on it now)")
        return ids

    def explain_one(progress, method_id, params):
        if not run["target"]:
            return None  # nothing was generated: said once, by the generation step
        e = explain(model, encoded, method=method_id, target=run["target"], progress=progress, **params)
        results["explanations"][method_id] = e
        with feed:  # its matrix now; its faithfulness figures and bar chart when the run ends
            st.caption(f"**{plain(method_id)}** finished in {duration(e.runtime_s)}; its faithfulness figures are "
                       "measured next, and all its figures are shown when the run ends.")
            st.plotly_chart(renderer("generation_matrix").figure(e), width="stretch", key=f"gen-live:{method_id}")
        return e

    def measure_one(progress, method_id):
        e = results["explanations"].get(method_id) if run["target"] else None
        if e is None:
            return None
        faithfulness(model, prompt, e, progress=progress)  # fills e.faithfulness
        return e

    stages = [Stage(f"Generating {n_generate} tokens", generate_s, generate, "tokens")] if n_generate else []
    for (method_id, params), cost in zip(chosen.items(), costs.values()):
        stages.append(Stage(method_id, cost[2], partial(explain_one, method_id=method_id, params=params)))
        stages.append(Stage(f"faithfulness of {method_id}", faith_s, partial(measure_one, method_id=method_id)))
    run_stages(stages, key="gen_cancel")
    live.empty()

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
