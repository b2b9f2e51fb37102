"""A click on the surface sets the start point."""

import math

import streamlit as st


def take_click(chart_key: str) -> None:
    """Move the start to the last clicked point of ``chart_key``'s chart, once per click.

    Runs before the start widgets are drawn (Streamlit forbids changing a widget's state
    after it exists in the same run). The selection stays in the chart's state on later
    reruns, so a fingerprint makes sure a click is applied once and manual edits win after.
    A new figure (the start typed in) comes back with no selection: that ends the click, so
    the same point clicked again is a new click.
    """
    state = st.session_state.get(chart_key)
    points = (state or {}).get("selection", {}).get("points", []) if isinstance(state, dict) else []
    clicked = [p for p in points if _finite(p.get("x")) and _finite(p.get("y"))]
    if not clicked:
        st.session_state.pop("click.last", None)
        return
    x, y = float(clicked[-1]["x"]), float(clicked[-1]["y"])
    if st.session_state.get("click.last") == (x, y):
        return
    st.session_state["click.last"] = (x, y)
    st.session_state["w.start_x"] = round(x, 4)
    st.session_state["w.start_y"] = round(y, 4)


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
