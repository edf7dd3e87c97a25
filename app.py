"""Lumen: why did the model decide what it did? (``streamlit run app.py``)"""

import streamlit as st

from models.device import default_device, describe
from pages.widgets import run_page

st.set_page_config(page_title="Lumen", page_icon=":material/flashlight_on:", layout="wide")

page = st.navigation(
    [
        st.Page("pages/image.py", title="Image", icon=":material/image:", default=True),
        st.Page("pages/concepts.py", title="Concepts", icon=":material/extension:"),
        st.Page("pages/text.py", title="Text classification", icon=":material/article:"),
        st.Page("pages/generation.py", title="Generation", icon=":material/chat:"),
        st.Page("pages/tabular.py", title="Tables", icon=":material/table_chart:"),
        st.Page("pages/neurons.py", title="Neurons", icon=":material/hub:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/balance:"),
        st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
        st.Page("pages/report.py", title="Report", icon=":material/description:"),
    ],
)

with st.sidebar:
    st.markdown("### Lumen")
    st.caption(f"Device: **{describe(default_device())}**")

run_page(page)
