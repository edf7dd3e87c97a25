"""Image page: pick or upload an image, see the model's top classes, explain one of them."""

import hashlib

import streamlit as st

from explainers import explain, get_method, list_explainers
from models import describe_model
from models.images import UPLOAD_TYPES
from models.samples import IMAGE_SAMPLES, sample_image
from pages.common import cached_decode, cached_model, show_error
from reports.figures import COLORMAPS, heatmap_overlay, top_classes_bar

MODEL = "efficientnet-lite0"

st.title("Image attribution")

model = cached_model(MODEL)
with st.sidebar:
    st.caption(f"Model: **{describe_model(MODEL)}** — loaded")

source = st.radio("Image source", ["Sample", "Upload"], horizontal=True, key="image_source")
if source == "Upload":
    upload = st.file_uploader(
        "Upload an image",
        type=list(UPLOAD_TYPES),
        help="PNG, JPEG, WebP, BMP, TIFF or GIF (first frame), up to 50 megapixels.",
    )
    if upload is None:
        st.info("Upload an image, or switch to a bundled sample.")
        st.stop()
    data = upload.getvalue()
    image_id = hashlib.sha1(data).hexdigest()[:16]
    try:
        image = cached_decode(data)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence
        show_error(exc)
        st.stop()
else:
    name = st.selectbox("Sample image", list(IMAGE_SAMPLES), key="image_sample")
    image_id = f"sample:{name}"
    image = sample_image(name)

prediction = model.predict(image)
left, right = st.columns([3, 2])
with left:
    st.image(image, caption=f"{image.shape[1]}×{image.shape[0]} px", width="stretch")
with right:
    st.markdown("**Top-5 predictions**")
    st.plotly_chart(top_classes_bar(prediction.top(5)), width="stretch", key="top5")

top1 = prediction.top(1)[0][0]
target = st.selectbox(
    "Class to explain (type to search all classes)",
    options=range(len(model.labels)),
    index=top1,
    format_func=lambda i: f"{model.labels[i]} ({i}) — {prediction.probs[i]:.1%}",
    key=f"target:{image_id}",
)
method = st.selectbox("Method", list_explainers("image"), key="image_method")
spec = get_method(method, "image")
n_forward, n_backward = spec.estimate()
st.caption(f"{spec.summary}  \nCost: {n_forward} forward + {n_backward} backward pass(es).")

if st.button("Run", type="primary", key="run"):
    try:
        with st.spinner(f"Running {method}…"):
            st.session_state["image_result"] = (image_id, explain(model, image, method=method, target=target))
    except Exception as exc:  # noqa: BLE001
        show_error(exc)

result = st.session_state.get("image_result")
if result is None or result[0] != image_id:
    st.info("Choose a class and press **Run** to see the heatmap.")
    st.stop()

explanation = result[1]
c1, c2 = st.columns(2)
opacity = c1.slider("Heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="opacity")
colormap = c2.selectbox("Colormap", COLORMAPS, key="colormap")
st.plotly_chart(
    heatmap_overlay(image, explanation.scores, colormap=colormap, opacity=opacity,
                    title=f"{explanation.method} — {explanation.target_label}"),
    width="stretch",
    key="heatmap",
)
st.caption(
    f"{explanation.method} for **{explanation.target_label}** · {explanation.runtime_s * 1000:.0f} ms · "
    f"{explanation.n_forward} forward + {explanation.n_backward} backward · device {explanation.device}"
)
