"""Lumen: why did the model decide what it did? (``streamlit run app.py``)"""

import streamlit as st

from models.device import default_device, describe
from pages.widgets import run_page

st.set_page_config(page_title="Lumen", page_icon="🔦", layout="wide")

page = st.navigation(
    [
        st.Page("pages/image.py", title="Image", icon="🖼️", default=True),
        st.Page("pages/concepts.py", title="Concepts", icon="🧩"),
        st.Page("pages/text.py", title="Text classification", icon="📝"),
        st.Page("pages/generation.py", title="Generation", icon="💬"),
        st.Page("pages/tabular.py", title="Tables", icon="📊"),
        st.Page("pages/compare.py", title="Compare", icon="⚖️"),
        st.Page("pages/report.py", title="Report", icon="📄"),
    ],
)

with st.sidebar:
    st.markdown("### Lumen")
    st.caption(f"Device: **{describe(default_device())}**")

run_page(page)
