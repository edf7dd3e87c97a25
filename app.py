"""Lumen: why did the model decide what it did? (``streamlit run app.py``)"""

import streamlit as st

from models.device import default_device, describe
from views.common import run_page

st.set_page_config(page_title="Lumen", page_icon="🔦", layout="wide")

page = st.navigation(
    [
        st.Page("views/image.py", title="Image", icon="🖼️", default=True),
        st.Page("views/concepts.py", title="Concepts", icon="🧩"),
        st.Page("views/text.py", title="Text classification", icon="📝"),
        st.Page("views/generation.py", title="Generation", icon="💬"),
        st.Page("views/tabular.py", title="Tables", icon="📊"),
        st.Page("views/compare.py", title="Compare", icon="⚖️"),
        st.Page("views/report.py", title="Report", icon="📄"),
    ],
)

with st.sidebar:
    st.markdown("### Lumen")
    st.caption(f"Device: **{describe(default_device())}**")

run_page(page)
