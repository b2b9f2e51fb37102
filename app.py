"""Optimizer & learning-rate lab: ``streamlit run app.py``. Layout and wiring only."""

import gc

# Plotly and narwhals look pandas, pyarrow and PIL.Image up in sys.modules while serialising a
# figure, and Streamlit imports pandas and pyarrow only when it first needs them: a class
# opening the link at once had one session's chart see another thread's half-imported pandas
# ("partially initialized module 'pandas' has no attribute 'Series"). Imported here, before
# any chart, every session waits until they are complete.
import pandas  # noqa: F401, I001
import PIL.Image  # noqa: F401
import pyarrow  # noqa: F401
import streamlit as st
import torch

from optim_core.config import LabConfig
from optim_core.engines import numba_engine
from ui import model_page, surface_page

# The app's models are small and every browser session runs in its own thread: torch's
# intra-op thread pool then only fights the other sessions (and Numba) for the cores.
# Measured on this 2-core machine under load: training the default model race took 0.75 s
# on one thread and 4.7-9.2 s on two.
torch.set_num_threads(1)

st.set_page_config(page_title="Optimizer lab", page_icon="🏁", layout="wide")
# Streamlit's wide layout pads the page by 5rem a side: on a 1024 px projector beside the
# sidebar that is a quarter of the width the surface could have.
st.html("<style>[data-testid='stMainBlockContainer'] {padding: 4.5rem 2rem 4rem}</style>")


# The default race's kernels, loaded from the disk cache that the install filled
# (`python -m optim_core.engines.warm`), or compiled here if it did not. Other pairs load
# (or compile) when first drawn, showing a first result through the formula interpreter.
# Then the ~350k objects the imports made are frozen out of the garbage collector: a full
# collection over them takes ~250 ms here and holds the GIL, stalling every session's rerun
# (Streamlit's forced collection after each run is off in .streamlit/config.toml).
@st.cache_resource(show_spinner="Loading the kernels…")
def warm_up() -> float:
    seconds = numba_engine.warm_up(LabConfig().specs())
    gc.freeze()
    return seconds


warm_up()
MODES = {"surface": "2D surface", "model": "Model"}

# First visit: the link decides the mode and fills its widgets.
if "mode" not in st.session_state:
    query = {k: st.query_params.get_all(k) for k in st.query_params}
    st.session_state["mode"] = "model" if query.get("mode") == ["model"] else "surface"
    if st.session_state["mode"] == "model":
        model_page.load_link(query)
    else:
        surface_page.load_link(query)

# Streamlit forgets the widgets of the mode that was not drawn: switching back restores the
# setup that mode had (each page saves its validated setup at the end of its run).
mode = st.session_state["mode"]
if st.session_state.get("mode.last", mode) != mode:
    saved = st.session_state.get(f"saved.{mode}")
    if saved is not None:
        (model_page.load if mode == "model" else surface_page.restore)(saved)
st.session_state["mode.last"] = mode

with st.sidebar:
    st.title("Optimizer lab")
    mode = st.radio("Mode", list(MODES), key="mode", horizontal=True, format_func=MODES.get)

if mode == "model":
    model_page.render()
else:
    surface_page.render()
