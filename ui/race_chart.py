"""The race chart: a small Streamlit component that animates the race in the page.

``st.plotly_chart`` of the race resent every path in every frame on every rerun (0.8-2.5 MB)
and let plotly.js step through prebuilt, thinned frames. This component receives the race
once per change as data (``viz.race_payload``) and draws each frame from the positions
(see ``race_chart.js``); a click on the surface comes back as a trigger value.

plotly.js is the copy inside the plotly package, served from the app's ``static`` folder
(``server.enableStaticServing`` in ``.streamlit/config.toml``): inlined into the
component's code it would travel with every rerun. The surface's image (~120 KB) is served
from there too, named by its content, so a rerun sends its address and the browser decodes
it once.
"""

import base64
import hashlib
import math
import os
import pathlib
import tempfile

import plotly
import streamlit as st

ROOT = pathlib.Path(__file__).resolve().parents[1]  # app.py's folder, which Streamlit serves
STATIC = ROOT / "static"
SURFACES = STATIC / "surfaces"
KEPT_IMAGES = 256  # surface images kept on disk (custom formulas make new ones)
PLOTLY_JS = pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
CSS = """
.race-controls {display: flex; align-items: center; gap: 0.75rem; padding: 0 0.5rem 0 50px;}
.race-controls button {font: inherit; font-size: 0.9rem; padding: 0.2rem 0.8rem; cursor: pointer;
  border: 1px solid rgba(49, 51, 63, 0.25); border-radius: 0.5rem; background: white;
  min-width: 6.5rem;}
.race-controls button:hover {border-color: #ff4b4b; color: #ff4b4b;}
.race-controls input[type=range] {flex: 1; accent-color: #ff4b4b;}
.race-overlay, .race-cursor {position: absolute; left: 0; top: 0; pointer-events: none;}
.race-cursor {width: 0; border-left: 1px dotted #555555; will-change: transform;}
.race-step {font-size: 0.9rem; color: #444; min-width: 6.5rem; font-variant-numeric: tabular-nums;}
"""

# Zoom, pan, reset and a PNG; a click sets the start, so no box or lasso, and a double-click
# (two clicks) does not also reset the zoom: the toolbar's reset button does.
CHART_CONFIG = {
    "displaylogo": False, "scrollZoom": False, "responsive": True, "doubleClick": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"],
}  # fmt: skip

_COMPONENT = st.components.v2.component(
    "optim_lab.race",
    js=(pathlib.Path(__file__).with_name("race_chart.js")).read_text(encoding="utf-8"),
    css=CSS,
    isolate_styles=False,  # plotly.js's hover and click events do not fire in a shadow root
)


def serve_plotly() -> None:
    """Put plotly.js where the static server finds it (once per install or plotly update)."""
    target = STATIC / "plotly.min.js"
    if target.exists() and target.stat().st_size == PLOTLY_JS.stat().st_size:
        return
    with PLOTLY_JS.open("rb") as source:
        _write(target, source.read())


def image_url(data_uri: str) -> str:
    """The address of a PNG data URI's bytes as a static file (written on first use)."""
    name = hashlib.sha1(data_uri.encode("ascii")).hexdigest()[:20] + ".png"
    target = SURFACES / name
    if target.exists():
        os.utime(target)  # in use: pruning keeps the most recently used
    else:
        _write(target, base64.b64decode(data_uri.split(",", 1)[1]))
        _prune(SURFACES, KEPT_IMAGES)
    return f"./app/static/surfaces/{name}"


def _write(target: pathlib.Path, content: bytes) -> None:
    # Several sessions may write at once: each writes its own file, then renames it.
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(content)
    os.chmod(tmp.name, 0o644)  # a temporary file is private; the static server must read it
    os.replace(tmp.name, target)


def _prune(folder: pathlib.Path, keep: int) -> None:
    def age(file: pathlib.Path) -> float:
        try:
            return file.stat().st_mtime
        except OSError:  # another session pruned it first
            return 0.0

    for old in sorted(folder.glob("*.png"), key=age)[:-keep]:
        old.unlink(missing_ok=True)


serve_plotly()


def race_chart(payload: dict, *, key: str, config: dict = CHART_CONFIG, on_click=None) -> None:
    """Draw ``payload`` (from ``viz.race_payload``); ``on_click(x, y)``, when given, runs
    before the next run of the script when the surface is clicked (without it a click does
    nothing, not even a rerun)."""

    def clicked() -> None:
        value = (st.session_state.get(key) or {}).get("click")
        if isinstance(value, dict) and all(_finite(value.get(c)) for c in ("x", "y")):
            on_click(float(value["x"]), float(value["y"]))

    if not st.get_option("server.enableStaticServing"):
        st.error(
            "The race chart needs Streamlit's static serving, which the app's "
            "`.streamlit/config.toml` turns on: start the app from its folder "
            "(`streamlit run app.py`, or `bash scripts/app.sh`).",
            icon=":material/block:",
        )
    data = {**payload, "image": image_url(payload["image"]), "config": config,
            "clickable": on_click is not None}  # fmt: skip
    _COMPONENT(key=key, data=data, on_click_change=clicked)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
